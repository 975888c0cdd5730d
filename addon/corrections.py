"""Cached frames against the artist's corrections on the Instance Tracker (added people, cut regions, hold ranges;
no bpy).

The frames of the tracker and of the nodes after it carry tags naming the corrections they were made with
(`wire.corrections`). `settle` holds a chain's cached frames to the present corrections: a frame tagged with them
is current; one tagged with others is kept, and tagged with the present ones, when the corrections reaching it
are the same as when it was made (the engine's digests say), and is cleared otherwise, as is a frame with no tag.
A change thus clears only the frames it reaches, whatever order they were made in and on whichever machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import cache
from .wire.corrections import read_tag, write_tag

Folder = tuple[Path, tuple[str, ...]]
"""A node's cache folder and the outputs it caches."""


def current(folder: Folder, frame: int, key: str) -> bool:
    """Whether the frame's tag in `folder` names the corrections `key` (`wire.corrections.corrections_key`)."""
    tag = read_tag(folder[0], frame)
    return tag is not None and tag["key"] == key


def settle(folders: list[Folder], frames: list[int], key: str, digests: Callable[[list[int]], list[str]]) -> list[int]:
    """Hold the cached `frames` (scene frames) in `folders` (a chain's tagged nodes) to the corrections `key`.

    `digests(asked)` gives, for each frame asked, the digest of the present corrections reaching it; it is asked
    only about frames tagged with other corrections, all at once. Returns the frames cleared in some folder.
    """
    cleared, other = set(), []
    for folder in folders:
        for frame in frames:
            if not cache.has_frame(*folder, frame):
                continue
            tag = read_tag(folder[0], frame)
            if tag is None:
                forget(folder, frame)
                cleared.add(frame)
            elif tag["key"] != key:
                other.append((folder, frame, tag["applied"]))
    asked = sorted({frame for _, frame, _ in other})
    now = dict(zip(asked, digests(asked))) if asked else {}
    for folder, frame, applied in other:
        if applied == now[frame]:
            write_tag(folder[0], frame, key, applied)
        else:
            forget(folder, frame)
            cleared.add(frame)
    return sorted(cleared)


def forget(folder: Folder, frame: int) -> None:
    """Remove a frame's cached outputs from `folder`, then its tags (`cache.forget`)."""
    cache.forget(*folder, frame)
