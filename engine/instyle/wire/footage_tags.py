"""Which files of an image sequence a cached frame was made from, so that a file rewritten in place clears the
frames made from it, and only those.

Beside each frame it writes from an image sequence, the engine writes a tag, `<node folder>/footage/<frame:06d>.json`,
`{"files": [[PATH, SIZE, MTIME_NS], ...]}`: the identity (`file_identity`) of every footage file the request's
result was made from, taken before it was read: its own frame's, the previous frame's where temporal stabilisation
used it, and the key frames' whose statistics normalised its crops (a missing file has SIZE and MTIME_NS null:
one that appears later counts as a change). The add-on keeps such a cached frame while every file its tag names is
as it was (`current`), and clears it otherwise, as it does a frame with no tag.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

TAG_FOLDER = "footage"


def file_identity(file: str | Path) -> list:
    """[absolute path, size, modification time in ns] of `file` now; size and time None when it is missing."""
    try:
        stat = os.stat(file)
    except FileNotFoundError:
        return [os.path.abspath(file), None, None]
    return [os.path.abspath(file), stat.st_size, stat.st_mtime_ns]


def tag_file(node_dir: Path, frame: int) -> Path:
    return Path(node_dir) / TAG_FOLDER / f"{frame:06d}.json"


def write_tag(node_dir: Path, frame: int, files: list[list]) -> Path:
    """Tag a frame with the identities of the files it was made from (atomically: temporary name, then rename);
    returns the tag's path."""
    path = tag_file(node_dir, frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.json")
    tmp.write_text(json.dumps({"files": [list(f) for f in files]}))
    os.replace(tmp, path)
    return path


def current(node_dir: Path, frame: int) -> bool:
    """Whether the frame has a tag and every file it names is as it was when the frame was made."""
    try:
        files = json.loads(tag_file(node_dir, frame).read_text())["files"]
        return all(file_identity(f[0]) == list(f) for f in files)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
