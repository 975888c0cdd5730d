"""What an analysis found: the track ids of the shot's track store and the frames each is seen in (no bpy).

The store is the engine's `tracks.jsonl` in the Instance Tracker's cache folder (format: the engine's
`track_store` module): a header line, then one line per footage frame with its raw track ids (0: a tentative
track, not yet given an id). The tracker's `merge` and `exclude` corrections apply after tracking, so they are
applied here too, as the engine applies them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

STORE_NAME = "tracks.jsonl"
STORE_VERSION = 1


class Seen(NamedTuple):
    """One track id of the analysed range: in how many scene frames it appears, and the first and last."""

    track_id: int
    frames: int
    first: int
    last: int


def read_store(path: Path) -> dict[int, list[int]]:
    """Footage frame index -> raw track ids, from a track store file; {} when it is missing or not a store.
    A torn last line (a writer that crashed mid-line) is skipped; a later line for a frame wins."""
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return {}
    try:
        header = json.loads(lines[0])
    except ValueError:
        return {}
    if not isinstance(header, dict) or header.get("instyle_tracks") != STORE_VERSION:
        return {}
    frames = {}
    for raw in lines[1:-1]:  # the part after the last newline is empty or torn
        try:
            record = json.loads(raw)
            frames[int(record["frame"])] = [int(i) for i in record["ids"]]
        except (ValueError, KeyError, TypeError):
            continue
    return frames


def merge_map(text: str) -> dict[int, int]:
    """The tracker's `merge` text ('3=1, 7=2') as {old: final id}, chains followed to their end. The engine
    has validated the text by the time an analysis is read; pairs that do not parse are skipped."""
    pairs = {}
    for part in text.split(","):
        old, _, new = (s.strip() for s in part.partition("="))
        if old.isdigit() and new.isdigit() and old != new:
            pairs[int(old)] = int(new)
    resolved = {}
    for old in pairs:
        target, hops = pairs[old], 0
        while target in pairs and hops <= len(pairs):
            target, hops = pairs[target], hops + 1
        resolved[old] = target
    return resolved


def exclude_set(text: str) -> set[int]:
    """The tracker's `exclude` text ('5, 9') as ids."""
    return {int(p) for p in (s.strip() for s in text.split(",")) if p.isdigit()}


def summarise(store: dict[int, list[int]], footage_frames: dict[int, int], merge: dict[int, int],
              exclude: set[int]) -> tuple[list[Seen], list[int]]:
    """The ids seen over the scene frames of `footage_frames` (scene frame -> footage frame index), after
    `merge` and `exclude`, by id; and the scene frames the store does not hold."""
    seen: dict[int, list[int]] = {}
    missing = []
    for scene_frame, index in sorted(footage_frames.items()):
        if index not in store:
            missing.append(scene_frame)
            continue
        ids = {merge.get(i, i) for i in store[index] if i} - exclude
        for track_id in ids:
            seen.setdefault(track_id, []).append(scene_frame)
    return [Seen(t, len(f), f[0], f[-1]) for t, f in sorted(seen.items())], missing
