"""Moving object boxes from one frame to the next by the motion of the pixels of their masks."""

from __future__ import annotations

import cv2
import numpy as np

_LATTICE = 5  # points per side of the lattice sampled in each box
_LK = dict(winSize=(15, 15), maxLevel=2, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))


def follow_boxes(previous: np.ndarray, current: np.ndarray, boxes: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Boxes moved from the `previous` to the `current` frame (HxW uint8 grey each).

    boxes: float32 Nx4 (x1, y1, x2, y2) in the previous frame; masks: NxHxW in [0, 1], the objects there.
    Each box shifts by the median motion, tracked by pyramidal Lucas-Kanade, of the points of a lattice
    over the box that lie on its mask (>= 0.5); a box with no such point tracked stays where it was.
    Returns float32 Nx4 clipped to the frame.
    """
    h, w = previous.shape
    steps = (np.arange(_LATTICE, dtype=np.float32) + 0.5) / _LATTICE
    points, owners = [], []
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        xs, ys = np.meshgrid(x1 + steps * (x2 - x1), y1 + steps * (y2 - y1))
        xi, yi = np.clip(xs.astype(int), 0, w - 1), np.clip(ys.astype(int), 0, h - 1)
        on = masks[k][yi, xi] >= 0.5
        points.append(np.stack([xs[on], ys[on]], axis=1))
        owners.append(np.full(int(on.sum()), k))
    out = boxes.astype(np.float32).copy()
    start = np.concatenate(points).astype(np.float32).reshape(-1, 1, 2) if points else np.zeros((0, 1, 2), np.float32)
    if len(start) == 0:
        return out
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, start, None, **_LK)
    shift, owner = (moved - start)[:, 0], np.concatenate(owners)
    ok = status[:, 0] == 1
    for k in range(len(boxes)):
        mine = ok & (owner == k)
        if mine.any():
            dx, dy = np.median(shift[mine], axis=0)
            out[k] += (dx, dy, dx, dy)
    return np.clip(out, 0, [w, h, w, h]).astype(np.float32)
