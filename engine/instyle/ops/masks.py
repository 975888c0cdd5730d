"""Instance masks: ownership of shared pixels, grow/shrink, feather, object cut-outs, carrying masks between
frames, index passes.

Masks are float32 HxW in [0, 1]; stacks of them are NxHxW. Per-instance work is done on each mask's
support (the bounding rectangle of its non-zero pixels) so that many small instances in a large frame
stay cheap.
"""

from __future__ import annotations

import cv2
import numpy as np

Region = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, end-exclusive


def box_window(shape: tuple[int, int], box: tuple[float, float, float, float], margin: float = 0.1) -> np.ndarray:
    """1 inside `box` (x1, y1, x2, y2 in pixels) grown by `margin` of its size, else 0: float32 HxW."""
    h, w = shape
    x0, y0, x1, y1 = box_region(box, (h, w), margin)
    out = np.zeros((h, w), np.float32)
    out[y0:y1, x0:x1] = 1.0
    return out


def box_region(box: tuple[float, float, float, float], shape: tuple[int, int], margin: float = 0.0) -> Region:
    """The pixels covered by `box` grown by `margin` of its size on each side, clipped to an HxW frame."""
    h, w = shape
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(int(np.floor(x1 - mx)), 0), max(int(np.floor(y1 - my)), 0),
            min(int(np.ceil(x2 + mx)), w), min(int(np.ceil(y2 + my)), h))


def support(mask: np.ndarray, pad: int = 0) -> Region | None:
    """Bounding rectangle of the non-zero pixels of an HxW mask grown by `pad`, or None if it is all zero."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (max(int(cols[0]) - pad, 0), max(int(rows[0]) - pad, 0), min(int(cols[-1]) + 1 + pad, w),
            min(int(rows[-1]) + 1 + pad, h))


def assign_ownership(evidence: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Split overlapping instance evidence into disjoint masks.

    evidence: float32 NxHxW in [0, 1], each instance's matte restricted to the area around its box.
    boxes: float32 Nx4 (x1, y1, x2, y2) in pixels.
    Returns float32 NxHxW in [0, 1]: each pixel keeps its evidence only for the instance that claims it
    most strongly, where strength is the evidence times closeness to the box centre, measured in box
    half-sizes (a pixel in the middle of one box and at the rim of another goes to the first). Pixels no
    instance claims stay 0, so the masks are disjoint and their union covers the union of the evidence.
    (Favouring the instance whose box reaches lowest, as nearer on a ground plane, scored worse on the
    `bench mask` labelled set.)
    """
    n, h, w = evidence.shape
    if n <= 1:
        return evidence.copy()
    best = np.zeros((h, w), np.float32)
    owner = np.full((h, w), -1, np.int32)
    regions = [support(e) for e in evidence]
    for k, region in enumerate(regions):
        if region is None:
            continue
        x0, y0, x1, y1 = region
        x1b, y1b, x2b, y2b = (float(v) for v in boxes[k])
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5)[:, None]
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5)[None, :]
        hw, hh = max((x2b - x1b) / 2, 1.0), max((y2b - y1b) / 2, 1.0)
        closeness = 1.0 / (1.0 + ((xs - (x1b + x2b) / 2) / hw) ** 2 + ((ys - (y1b + y2b) / 2) / hh) ** 2)
        strength = evidence[k, y0:y1, x0:x1] * closeness
        take = strength > best[y0:y1, x0:x1]
        best[y0:y1, x0:x1][take] = strength[take]
        owner[y0:y1, x0:x1][take] = k
    out = np.zeros_like(evidence, dtype=np.float32)
    for k, region in enumerate(regions):
        if region is not None:
            x0, y0, x1, y1 = region
            out[k, y0:y1, x0:x1] = np.where(owner[y0:y1, x0:x1] == k, evidence[k, y0:y1, x0:x1], 0.0)
    return out


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


def refine(masks: np.ndarray, pixels: int, radius: float) -> np.ndarray:
    """`grow` by `pixels` then `feather` by `radius` each of NxHxW masks, working on each mask's support."""
    if pixels == 0 and radius <= 0:
        return masks
    pad = max(pixels, 0) + int(np.ceil(4 * radius)) + 2  # OpenCV float kernels reach 4 sigma
    out = np.zeros_like(masks)
    for k, mask in enumerate(masks):
        region = support(mask, pad)
        if region is not None:
            x0, y0, x1, y1 = region
            out[k, y0:y1, x0:x1] = feather(grow(np.ascontiguousarray(mask[y0:y1, x0:x1]), pixels), radius)
    return np.clip(out, 0.0, 1.0, out=out)


def grabcut_in_box(rgb: np.ndarray, box: tuple[float, float, float, float], iterations: int = 3,
                   max_side: int = 128) -> np.ndarray:
    """Class-agnostic object mask inside a box: OpenCV GrabCut seeded with the box as "probably object".

    rgb: uint8 HxWx3 frame. The box and a 20% margin around it are cut out and shrunk so their longest side
    is at most `max_side` (GrabCut's cost grows with the pixel count). Returns float32 HxW in [0, 1], soft
    only where the result is scaled back up; the whole box where GrabCut keeps nothing in it (a uniform
    region), since the detector did see an object there.
    """
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box_region(box, (h, w), 0.2)
    out = np.zeros((h, w), np.float32)
    if x1 - x0 < 4 or y1 - y0 < 4:
        bx0, by0, bx1, by1 = box_region(box, (h, w))
        out[by0:by1, bx0:bx1] = 1.0
        return out
    scale = min(1.0, max_side / max(x1 - x0, y1 - y0))
    cw, ch = max(4, round((x1 - x0) * scale)), max(4, round((y1 - y0) * scale))
    crop = cv2.resize(rgb[y0:y1, x0:x1], (cw, ch), interpolation=cv2.INTER_AREA)
    bx0 = int(np.clip(round((box[0] - x0) * scale), 1, cw - 3))
    by0 = int(np.clip(round((box[1] - y0) * scale), 1, ch - 3))
    bx1 = int(np.clip(round((box[2] - x0) * scale), bx0 + 2, cw - 1))
    by1 = int(np.clip(round((box[3] - y0) * scale), by0 + 2, ch - 1))
    labels = np.zeros((ch, cw), np.uint8)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(np.ascontiguousarray(crop[:, :, ::-1]), labels, (bx0, by0, bx1 - bx0, by1 - by0), *models,
                iterations, cv2.GC_INIT_WITH_RECT)
    fg = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
    if not fg.any():
        fg[by0:by1, bx0:bx1] = 1.0
    out[y0:y1, x0:x1] = cv2.resize(fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return out


SEEN_PEAK = 0.2
"""The person matte sees someone in a box where it reaches this (its 99th percentile there)..."""
SEEN_AREA = 0.1
"""...and, scaled up to full strength where weaker than 0.5, covers at least this share of the box at 0.5."""


def seen_person(matte: np.ndarray, box) -> np.ndarray | None:
    """The person matte (float32 HxW in [0, 1]) as a person's mask in `box` (x1, y1, x2, y2 pixels) where it sees
    them there (SEEN_PEAK, SEEN_AREA), a weak matte scaled up so its 99th percentile in the box is 1 (a matte under
    0.5 would leave no mask); None where it sees no one."""
    x0, y0, x1, y1 = box_region(box, matte.shape)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    peak = float(np.percentile(matte[y0:y1, x0:x1], 99))
    if peak < SEEN_PEAK:
        return None
    if peak < 0.5:
        matte = np.minimum(matte / peak, 1.0)
    if (matte[y0:y1, x0:x1] >= 0.5).sum() < SEEN_AREA * (x1 - x0) * (y1 - y0):
        return None
    return matte


def carry_forward(mask: np.ndarray, old_box, new_box) -> np.ndarray:
    """Move a float32 HxW mask the way its object's box moved: scale and shift `old_box` onto `new_box`."""
    sx = (new_box[2] - new_box[0]) / max(old_box[2] - old_box[0], 1e-3)
    sy = (new_box[3] - new_box[1]) / max(old_box[3] - old_box[1], 1e-3)
    m = np.array([[sx, 0.0, new_box[0] - sx * old_box[0]], [0.0, sy, new_box[1] - sy * old_box[1]]], np.float32)
    h, w = mask.shape
    return cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def collapsed(mask: np.ndarray, previous: np.ndarray, share: float) -> bool:
    """Whether a person's mask (float32 HxW in [0, 1]) covers less than `share` (0..1) of `previous` (float32 HxW in
    [0, 1], their mask in the previous frame moved onto this one), each taken at 0.5; False where `previous` is
    empty."""
    before = previous >= 0.5
    area = int(np.count_nonzero(before))
    return area > 0 and np.count_nonzero(before & (mask >= 0.5)) < share * area


def index_pass(masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """float32 HxW holding k + 1 where instance k (of NxHxW masks) is the strongest above `threshold`, else 0
    (the first of equally strong instances wins)."""
    n, h, w = masks.shape
    index, best = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    for k in range(n):
        region = support(masks[k])
        if region is None:
            continue
        x0, y0, x1, y1 = region
        m, b, i = masks[k, y0:y1, x0:x1], best[y0:y1, x0:x1], index[y0:y1, x0:x1]
        take = m > b
        i[take] = np.where(m[take] >= threshold, k + 1, 0)
        b[take] = m[take]
    return index


def nearest_instance(masks: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """int32 HxW: for every pixel, the index of the instance (of NxHxW masks) whose mask (above `threshold`) is
    nearest; the lowest index where masks overlap, 0 everywhere when every mask is empty."""
    inside = masks >= threshold
    index = np.zeros(masks.shape[1:], np.int32)
    for k in reversed(range(len(masks))):
        index[inside[k]] = k + 1
    if not index.any():
        return index
    _, labels = cv2.distanceTransformWithLabels((index == 0).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    owner_of_label = np.concatenate([[0], index[index > 0] - 1]).astype(np.int32)  # labels count mask pixels in
    return owner_of_label[labels]                                                  # raster order from 1
