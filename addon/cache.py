"""The frame cache next to the .blend: `<root>/<node cache id>/<output>/<frame:06d>.exr` (no bpy)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from .wire import footage_tags
from .wire.atomic_files import link_atomic, sweep_temporary, write_atomic
from .wire.cache_files import frame_file
from .wire.corrections import tag_file

KEY_FILE = "key.json"


def has_frame(node_dir: Path, outputs: tuple[str, ...], frame: int) -> bool:
    """True when every output of the node is cached for `frame`."""
    return all(frame_file(node_dir, o, frame).is_file() for o in outputs)


def forget(node_dir: Path, outputs: tuple[str, ...], frame: int) -> None:
    """Remove a frame's cached outputs from `node_dir`, then its tags: every output's, those not read now too (the
    engine writes only the outputs read, so an output linked later must not find a frame made from other footage
    or with other corrections)."""
    present = [p.name for p in Path(node_dir).iterdir() if p.is_dir()] if Path(node_dir).is_dir() else []
    for output in dict.fromkeys([*outputs, *present]):
        frame_file(node_dir, output, frame).unlink(missing_ok=True)
    tag_file(node_dir, frame).unlink(missing_ok=True)
    footage_tags.tag_file(node_dir, frame).unlink(missing_ok=True)


def forget_rewritten(folders: list[tuple[Path, tuple[str, ...]]], frames: list[int]) -> list[int]:
    """Clear the cached `frames` (cache numbers) in `folders` (a chain's node folders and their outputs) that were
    made from image sequence files rewritten since, or whose footage tag is missing (`wire.footage_tags`);
    returns the frames cleared in some folder."""
    cleared = set()
    for node_dir, outputs in folders:
        for frame in frames:
            if has_frame(node_dir, outputs, frame) and not footage_tags.current(node_dir, frame):
                forget(node_dir, outputs, frame)
                cleared.add(frame)
    return sorted(cleared)


def publish(src: Path, dst: Path) -> None:
    """Make `dst` hold the frame `src` holds, in one step for its readers: a hard link (a copy where the file
    system has none) made at a temporary name no one can predict and renamed over it (`wire.atomic_files`)."""
    try:
        if dst.samefile(src):
            return
    except OSError:
        pass
    dst.parent.mkdir(parents=True, exist_ok=True)
    link_atomic(src, dst)


def signature(description: object) -> str:
    """A short stable hash of what a node's cached frames depend on (JSON-able)."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def claim(node_dir: Path, key: str, outputs: tuple[str, ...], process_alive: Callable[[int], bool]) -> bool:
    """Make `node_dir` hold frames for `key`: frames made for another key are removed first (every folder in it:
    each output's frames, and their tags).

    Half-written frames of writers that are gone are swept. Returns True when stale frames were removed.
    """
    node_dir.mkdir(parents=True, exist_ok=True)
    key_path = node_dir / KEY_FILE
    try:
        current = json.loads(key_path.read_text()).get("key")
    except (OSError, ValueError):
        current = None
    if current == key:
        for output in outputs:
            sweep_temporary(node_dir / output, process_alive)
        return False
    folders = [p for p in node_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    stale = current is not None or bool(folders)
    for folder in folders:
        trash = node_dir / f".stale-{folder.name}-{os.getpid()}"
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)
    write_atomic(key_path, json.dumps({"key": key}).encode())
    return stale
