"""Instance masks: ownership of shared pixels, grow/shrink, feather, index passes."""

from __future__ import annotations

import cv2
import numpy as np


def box_window(shape: tuple[int, int], box: tuple[float, float, float, float], margin: float = 0.1) -> np.ndarray:
    """1 inside `box` (x1, y1, x2, y2 in pixels) grown by `margin` of its size, else 0: float32 HxW."""
    h, w = shape
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    out = np.zeros((h, w), np.float32)
    c0, c1 = max(int(np.floor(x1 - mx)), 0), min(int(np.ceil(x2 + mx)), w)
    r0, r1 = max(int(np.floor(y1 - my)), 0), min(int(np.ceil(y2 + my)), h)
    out[r0:r1, c0:c1] = 1.0
    return out


def assign_ownership(evidence: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Split overlapping instance evidence into disjoint masks.

    evidence: float32 NxHxW in [0, 1], each instance's matte restricted to its box window.
    boxes: float32 Nx4 (x1, y1, x2, y2) in pixels.
    Returns float32 NxHxW in [0, 1]: each pixel keeps its evidence only for the instance that claims it
    most strongly, where strength is the evidence times closeness to the box centre, measured in box
    half-sizes (a pixel in the middle of one box and at the rim of another goes to the first).
    """
    n, h, w = evidence.shape
    if n <= 1:
        return evidence.copy()
    ys = (np.arange(h, dtype=np.float32) + 0.5)[None, :, None]
    xs = (np.arange(w, dtype=np.float32) + 0.5)[None, None, :]
    cx = ((boxes[:, 0] + boxes[:, 2]) / 2)[:, None, None]
    cy = ((boxes[:, 1] + boxes[:, 3]) / 2)[:, None, None]
    hw = np.maximum((boxes[:, 2] - boxes[:, 0]) / 2, 1)[:, None, None]
    hh = np.maximum((boxes[:, 3] - boxes[:, 1]) / 2, 1)[:, None, None]
    closeness = 1.0 / (1.0 + ((xs - cx) / hw) ** 2 + ((ys - cy) / hh) ** 2)
    strength = evidence * closeness
    owner = np.argmax(strength, axis=0)
    keep = owner[None] == np.arange(n)[:, None, None]
    return np.where(keep, evidence, 0.0).astype(np.float32)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate (pixels > 0) or erode (pixels < 0) a float32 HxW mask in [0, 1] with a disc."""
    if pixels == 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(pixels) + 1, 2 * abs(pixels) + 1))
    return (cv2.dilate if pixels > 0 else cv2.erode)(mask, k)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian-soften a float32 HxW mask in [0, 1]; `radius` is the sigma in pixels."""
    if radius <= 0:
        return mask
    return cv2.GaussianBlur(mask, (0, 0), radius)


def index_pass(masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """float32 HxW holding k + 1 where instance k (of NxHxW masks) is the strongest above `threshold`, else 0."""
    if len(masks) == 0:
        return np.zeros(masks.shape[1:], np.float32)
    best = np.argmax(masks, axis=0)
    strong = np.max(masks, axis=0) >= threshold
    return np.where(strong, best + 1, 0).astype(np.float32)


def nearest_instance(masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """int32 HxW: for every pixel, the index of the instance (of NxHxW masks) whose mask is nearest."""
    n, h, w = masks.shape
    distances = np.empty((n, h, w), np.float32)
    for k in range(n):
        outside = (masks[k] < threshold).astype(np.uint8)
        distances[k] = cv2.distanceTransform(outside, cv2.DIST_L2, 3) if outside.any() else 0
        if outside.all():
            distances[k] = np.inf
    return np.argmin(distances, axis=0).astype(np.int32)
