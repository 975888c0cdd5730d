"""The artist's corrections on the Instance Tracker, and the tags that say which ones a cached frame was made with.

Corrections (`CORRECTIONS`: people added, regions cut out of an id, ids held through frame ranges) change only
the frames they reach, so they are left out of a node's cache signature. Instead the engine writes a tag beside
each frame it writes for the Instance Tracker and for every stage after it (`tagged`):
`<node folder>/corrections/<frame:06d>.json`, `{"key": KEY, "applied": DIGEST}`. KEY (`corrections_key`) stands
for all the corrections the frame was made with, DIGEST for the ones that reach that frame, with everything their
effect there depends on (the engine's `instance_tracker.applied`).

The add-on keeps a cached frame whose tag has the current KEY. A frame tagged with another KEY is kept when the
present corrections give it the same DIGEST (the engine's `corrections` request says which DIGEST) and is then
tagged with the current KEY; otherwise it is stale, like a frame with no tag.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

TRACKER = "instance_tracker"
CORRECTIONS = ("added", "cut", "hold_ranges")
"""The Instance Tracker's parameters that are artist corrections."""
TAG_FOLDER = "corrections"


def corrections_key(params: dict) -> str:
    """A short hash of the corrections among the tracker parameters `params` (a missing one counts as none)."""
    text = json.dumps([params.get(name, "") for name in CORRECTIONS], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tagged(stages: list[str]) -> list[bool]:
    """For each stage of a pipeline (by name, in order): whether its frames carry tags, as the Instance Tracker's
    and those of the stages after it, made from its output, do."""
    out, seen = [], False
    for stage in stages:
        seen = seen or stage == TRACKER
        out.append(seen)
    return out


def tag_file(node_dir: Path, frame: int) -> Path:
    return Path(node_dir) / TAG_FOLDER / f"{frame:06d}.json"


def read_tag(node_dir: Path, frame: int) -> dict | None:
    """A frame's tag, {"key", "applied"}; None if it has none (or an unreadable one)."""
    try:
        tag = json.loads(tag_file(node_dir, frame).read_text())
    except (OSError, ValueError):
        return None
    ok = isinstance(tag, dict) and all(isinstance(tag.get(k), str) for k in ("key", "applied"))
    return tag if ok else None


def write_tag(node_dir: Path, frame: int, key: str, applied: str) -> Path:
    """Tag a frame (atomically: temporary name, then rename); returns the tag's path."""
    path = tag_file(node_dir, frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.json")
    tmp.write_text(json.dumps({"key": key, "applied": applied}))
    os.replace(tmp, path)
    return path
