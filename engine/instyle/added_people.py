"""People the artist adds where the models miss them: outlines drawn on one frame (a Blender Mask), carried
through the shot.

The Instance Tracker's `added` parameter lists them as JSON, one object per person:
`{"id": 1001, "frame": 12, "polygons": [[[x, y], ...], ...], "first": 0, "last": 47}`: the person's track id
(at least FIRST_ID, so it never meets an id the tracker gives), the footage frame the outlines were drawn on,
the outlines in that frame's pixels (x right, y down; several outlines make one person), and optionally the
footage frames the person is in (by default the whole shot).

From the drawn frame the person is followed frame by frame in both directions (`Carried`): their box moves by
the motion of their pixels (`ops.box_motion`), then fits the person matte inside it where the matte sees
someone. Following stops at a cut, where the box leaves the frame, and at `first` and `last`. A frame's boxes
depend only on the frames between it and the drawn one, so every machine, in any order, finds the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from .ops import box_motion, cuts
from .ops import masks as mask_ops
from .ops.tracking import box_iou
from .wire.params import ParamError

FIRST_ID = 1000
"""Added people's ids start above this; the tracker's own ids stay below it in any shot an artist can check."""
REFIT_IOU = 0.5
"""A box refitted to the matte is kept only if it overlaps the moved box this much (else a neighbour was seen)."""
LEFT_FRAME = 0.2
"""Following stops once less than this share of the box is inside the frame."""


@dataclass(frozen=True)
class AddedPerson:
    """One added person: `polygons` are outlines in pixels of footage frame `frame`, each a tuple of (x, y)."""

    id: int
    frame: int
    polygons: tuple[tuple[tuple[float, float], ...], ...]
    first: int = 0
    last: int = 10**7 - 1


def parse_added(text: str, where: str = "instance_tracker.added", above: int = FIRST_ID) -> tuple[AddedPerson, ...]:
    """The `added` parameter's people (or with `where` and `above` 0, the `cut` parameter's regions, drawn for
    existing ids); raises ParamError saying what to fix."""
    if not text.strip():
        return ()
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise ParamError(f"{where} is not JSON ({exc}); give a list of people, e.g. "
                         '[{"id": 1001, "frame": 12, "polygons": [[[10, 20], [60, 20], [60, 200]]]}]') from None
    if not isinstance(items, list):
        raise ParamError(f"{where} must be a JSON list of people, one object each")
    people, ids = [], set()
    for k, item in enumerate(items):
        if not isinstance(item, dict) or not {"id", "frame", "polygons"} <= set(item):
            raise ParamError(f"{where}[{k}] needs 'id', 'frame' and 'polygons'")
        person_id, frame = item["id"], item["frame"]
        first, last = item.get("first", 0), item.get("last", 10**7 - 1)
        if not all(type(v) is int for v in (person_id, frame, first, last)):
            raise ParamError(f"{where}[{k}]: id, frame, first and last must be whole numbers")
        if person_id <= above or (above and person_id in ids):
            raise ParamError(f"{where}[{k}]: id {person_id} must be above {above}"
                             + (" and not used by another added person" if above else ""))
        if not first <= frame <= last:
            raise ParamError(f"{where}[{k}]: the drawn frame {frame} lies outside first..last ({first}..{last})")
        polygons = item["polygons"]
        try:
            outlines = tuple(tuple((float(x), float(y)) for x, y in outline) for outline in polygons)
        except (TypeError, ValueError):
            outlines = ()
        if not outlines or any(len(o) < 3 or not np.isfinite(o).all() for o in outlines):
            raise ParamError(f"{where}[{k}]: polygons must be outlines of at least 3 [x, y] points each; draw the "
                             "person's outline as a closed Mask spline")
        ids.add(person_id)
        people.append(AddedPerson(person_id, frame, outlines, first, last))
    return tuple(people)


def drawn_mask(person: AddedPerson, size: tuple[int, int]) -> np.ndarray:
    """float32 HxW in [0, 1]: the person's outlines filled (anti-aliased) in a frame of `size` (height, width)."""
    canvas = np.zeros(size, np.uint8)
    outlines = [np.round(np.array(o) * 16).astype(np.int32) for o in person.polygons]
    cv2.fillPoly(canvas, outlines, 255, cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """float64 4 (x1, y1, x2, y2): the box around a float32 HxW mask's pixels at 0.5 or more; None if none."""
    ys, xs = np.nonzero(mask >= 0.5)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


Read = Callable[[int], "np.ndarray | None"]
"""A footage frame by index, uint8 HxWx3 RGB; None for a frame that cannot be read (past the footage's ends)."""
Matte = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""The person matte of an HxWx3 uint8 frame in one box (4,): float32 HxW in [0, 1]."""


@dataclass
class Carried:
    """One added person followed from their drawn frame: `boxes` holds frame -> box (float64 4) for the frames
    followed so far, a run around the drawn frame that `box_at` extends as far as it is asked, or until it stops
    (`stopped`, per direction: backwards, forwards)."""

    person: AddedPerson
    drawn: np.ndarray
    boxes: dict[int, np.ndarray] = field(default_factory=dict)
    ends: dict[int, tuple[int, np.ndarray]] = field(default_factory=dict)  # direction -> (frame, its mask)
    stopped: dict[int, bool] = field(default_factory=lambda: {-1: False, 1: False})

    @classmethod
    def start(cls, person: AddedPerson, size: tuple[int, int]) -> Carried | None:
        drawn = drawn_mask(person, size)
        box = mask_box(drawn)
        if box is None:
            return None
        return cls(person, drawn, {person.frame: box}, {-1: (person.frame, drawn), 1: (person.frame, drawn)})

    def box_at(self, index: int, read: Read, matte: Matte) -> np.ndarray | None:
        """The person's box in footage frame `index`, following them there from the nearest frame followed; None
        where they are not (outside first..last, past a cut or out of the frame)."""
        if not self.person.first <= index <= self.person.last:
            return None
        direction = 1 if index > self.person.frame else -1
        while index not in self.boxes and not self.stopped[direction]:
            self._step(direction, read, matte)
        return self.boxes.get(index)

    def mask_at(self, index: int, frame: np.ndarray, matte: Matte) -> np.ndarray | None:
        """The person's mask (float32 HxW in [0, 1]) in footage frame `index` (its pixels `frame`): the drawn one on
        the drawn frame; elsewhere the person matte in the box, or where it sees no one there, the drawn mask moved
        onto the box. None if the frame has no box (call `box_at` first)."""
        box = self.boxes.get(index)
        if box is None:
            return None
        if index == self.person.frame:
            return self.drawn
        seen = mask_ops.seen_person(matte(frame, box), box)
        return seen if seen is not None else mask_ops.carry_forward(self.drawn, self.boxes[self.person.frame], box)

    def _step(self, direction: int, read: Read, matte: Matte) -> None:
        frame_index, mask = self.ends[direction]
        box, target = self.boxes[frame_index], frame_index + direction
        limit = self.person.last if direction > 0 else self.person.first
        previous, current = read(frame_index), read(target) if direction * (limit - target) >= 0 else None
        if previous is None or current is None or cuts.is_cut(cuts.colour_signature(previous), cuts.colour_signature(current)):
            self.stopped[direction] = True
            return
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (previous, current)]
        moved = box_motion.follow_boxes(grey[0], grey[1], box[None].astype(np.float32), mask[None])[0]
        moved = moved.astype(np.float64)
        seen = mask_ops.seen_person(matte(current, moved), moved)
        if seen is not None:
            fitted = mask_box(seen)  # the matte is limited to the box grown by a tenth
            if fitted is not None and box_iou(fitted, moved)[0, 0] >= REFIT_IOU:
                moved = fitted
        h, w = current.shape[:2]
        x0, y0, x1, y1 = mask_ops.box_region(moved, (h, w))
        area = max((moved[2] - moved[0]) * (moved[3] - moved[1]), 1e-6)
        if (x1 - x0) * (y1 - y0) < LEFT_FRAME * area:
            self.stopped[direction] = True
            return
        next_mask = seen if seen is not None else mask_ops.carry_forward(self.drawn, self.boxes[self.person.frame],
                                                                         moved)
        self.boxes[target] = moved
        self.ends[direction] = (target, next_mask)
