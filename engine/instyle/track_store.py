"""The Instance Tracker's record of a shot: every analysed frame's boxes and track ids, kept in a JSON-lines file
in the tracker's cache folder, so that any machine rendering any frame, in any order, reads the same identities.

The file's first line is `{"instyle_tracks": 1, "key": KEY}`, each further line one frame:
`{"frame": F, "boxes": [[x1, y1, x2, y2], ...], "ids": [...]}`, for an image sequence with `"footage": IDENTITY`
(`media.footage_identity` of the frame's file when it was analysed: a line whose file has been rewritten since is
not the frame's record, and the frame's next analysis appends one). KEY stands for everything the tracks depend on
(the footage, the mask and tracker parameters): a file holding another key is stale and is replaced by the
first frame stored for the new one. Frames are appended with one write each, so engines on several machines
may add to the same file; lines others appended are picked up on the next read, and a torn last line (a crash
mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .wire.atomic_files import write_atomic

VERSION = 1


class TrackStore:
    """Frame index -> (boxes float64 Nx4 in pixels, track ids int64 N) for one key; `path` None keeps the
    record in memory only. `identity(frame)`, when given, is the JSON-able identity of the frame's footage file
    now: a frame recorded with another is not recorded."""

    def __init__(self, path: Path | None, key: str, identity: Callable[[int], list] | None = None):
        self.path, self.key, self.identity = path, key, identity
        self._frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._footage: dict[int, list | None] = {}  # frame -> the identity its line was recorded with
        self._file: tuple[int, int] | None = None  # (inode, bytes read) of the file the frames came from

    def get(self, frame: int) -> tuple[np.ndarray, np.ndarray] | None:
        self._refresh()
        return self._frames.get(frame) if self._current(frame) else None

    def get_filled(self, frame: int, max_gap: int,
                   holds: dict[int, tuple[int, int]] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """`get`, plus a box for each id missing from this frame but recorded on both sides of it, at most
        `max_gap` frames apart, in a run of recorded frames, and for each id held through a range of frames
        that holds this one (see `fill_gap`)."""
        self._refresh()
        return fill_gap(self._frames, frame, max_gap, holds) if self._current(frame) else None

    def put(self, frame: int, boxes: np.ndarray, ids: np.ndarray) -> None:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        ids = np.asarray(ids, np.int64).reshape(-1)
        footage = self.identity(frame) if self.identity else None
        record = {"frame": int(frame), "boxes": boxes.tolist(), "ids": ids.tolist()}
        line = json.dumps(record if footage is None else {**record, "footage": footage}) + "\n"
        if self.path is not None:
            self._refresh()
            if self._file is None:
                self._replace(line)
            else:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
                try:
                    os.write(descriptor, line.encode())
                finally:
                    os.close(descriptor)
        self._frames[int(frame)] = (boxes, ids)
        self._footage[int(frame)] = footage

    def _current(self, frame: int) -> bool:
        """Whether the frame's line, if any, was recorded from its footage file as it is now."""
        return self.identity is None or frame not in self._frames or self._footage.get(frame) == self.identity(frame)

    def _replace(self, line: str) -> None:
        """Start the file afresh for this key with one frame's line (`wire.atomic_files`)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, (json.dumps({"instyle_tracks": VERSION, "key": self.key}) + "\n" + line).encode())
        self._frames.clear()
        self._footage.clear()
        self._file = (os.stat(self.path).st_ino, 0)
        self._refresh()

    def _refresh(self) -> None:
        """Read what was added to the file since the last read; forget everything if the file went stale."""
        if self.path is None:
            return
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self._frames.clear()
            self._footage.clear()
            self._file = None
            return
        if self._file is None or self._file[0] != stat.st_ino or stat.st_size < self._file[1]:
            self._frames.clear()
            self._footage.clear()
            self._file = (stat.st_ino, 0)
        inode, offset = self._file
        if stat.st_size == offset:
            return
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read(stat.st_size - offset)
        complete = data[:data.rfind(b"\n") + 1]
        for number, raw in enumerate(complete.splitlines()):
            record = _parse(raw)
            if offset == 0 and number == 0:
                if record is None or record.get("instyle_tracks") != VERSION or record.get("key") != self.key:
                    self._file = None  # another key's tracks, or not a track file: replaced on the next put
                    return
            elif record is not None:
                self._frames[record["frame"]] = record["boxes"], record["ids"]
                self._footage[record["frame"]] = record["footage"]
        self._file = (inode, offset + len(complete))


def fill_gap(frames: dict[int, tuple[np.ndarray, np.ndarray]], frame: int, max_gap: int,
             holds: dict[int, tuple[int, int]] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Frame `frame` of `frames` (index -> (boxes float64 Nx4, ids int64 N)), None if absent, with the gaps of
    its tracks filled: an id (> 0) absent here, last recorded at frame a < `frame` and next at b > `frame` with
    b - a - 1 <= `max_gap` and every frame between a and b recorded, gets the box linearly interpolated between
    its boxes at a and b (one person unseen for a few frames, as after Analyze has recorded the whole shot).

    `holds` (id -> (first, last) frames) names people the artist holds through a range: in a frame of the range
    they get the box interpolated between their nearest sightings within `max_gap` frames of the range, or where
    only one side has one, that sighting's box."""
    if frame not in frames:
        return None
    boxes, ids = frames[frame]
    present = set(ids[ids > 0].tolist())
    held = {t: r for t, r in (holds or {}).items() if r[0] <= frame <= r[1] and t not in present}
    reach = {-1: max([max_gap] + [frame - r[0] + max_gap for r in held.values()]),
             1: max([max_gap] + [r[1] - frame + max_gap for r in held.values()])}
    sides = []
    for direction in (-1, 1):
        found: dict[int, tuple[int, np.ndarray]] = {}
        for other in range(frame + direction, frame + direction * (reach[direction] + 1), direction):
            if other not in frames:
                break
            for box, track in zip(*frames[other]):
                if track > 0 and track not in present and track not in found:
                    found[int(track)] = (other, box)
        sides.append(found)
    before, after = sides
    extra_ids, extra_boxes = [], []
    for track in sorted(before.keys() | after.keys()):
        first, last = held.get(track, (frame, frame))
        near = [side[track] for side, end, sign in ((before, first, -1), (after, last, 1))
                if track in side and sign * (side[track][0] - end) <= max_gap]
        if len(near) == 2 and (track in held or near[1][0] - near[0][0] - 1 <= max_gap):
            (a, box_a), (b, box_b) = near
            t = (frame - a) / (b - a)
            extra_ids.append(track)
            extra_boxes.append((1 - t) * box_a + t * box_b)
        elif len(near) == 1 and track in held:
            extra_ids.append(track)
            extra_boxes.append(near[0][1])
    if not extra_ids:
        return boxes, ids
    return (np.concatenate([boxes, np.array(extra_boxes, np.float64)]),
            np.concatenate([ids, np.array(extra_ids, np.int64)]))


def _parse(raw: bytes) -> dict | None:
    """One line as a dict; a frame line with its boxes as float64 Nx4 and ids as int64 N; None if unreadable."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    if "frame" not in record:
        return record
    try:
        boxes = np.asarray(record["boxes"], np.float64).reshape(-1, 4)
        ids = np.asarray(record["ids"], np.int64).reshape(-1)
    except (KeyError, TypeError, ValueError):
        return None
    if type(record["frame"]) is not int or len(boxes) != len(ids):
        return None
    return {"frame": record["frame"], "boxes": boxes, "ids": ids, "footage": record.get("footage")}
