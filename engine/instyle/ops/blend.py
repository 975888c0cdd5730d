"""Blending stylized pixels into the original frame along mask edges: band geometry, ramps, compositing and
the seam-visibility measure the modes are compared by."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def signed_edge_distance(inside: np.ndarray) -> np.ndarray:
    """Distance of every pixel from the edge of a region, positive inside it, measured from the edge between
    pixels: a pixel next to the edge is 0.5 (inside) or -0.5 (outside) away.

    inside: bool HxW. Returns float32 HxW; +inf everywhere when the region is the whole frame, -inf when empty.
    """
    if inside.all() or not inside.any():
        return np.full(inside.shape, np.inf if inside.any() else -np.inf, np.float32)
    region = inside.astype(np.uint8)
    d_in = cv2.distanceTransform(region, cv2.DIST_L2, 5)
    d_out = cv2.distanceTransform(1 - region, cv2.DIST_L2, 5)
    return np.where(inside, d_in - 0.5, 0.5 - d_out).astype(np.float32)


def feather_ramp(signed: np.ndarray, half: float) -> np.ndarray:
    """Linear ramp across the band |signed| < half: 0 at -half or beyond, 1 at +half or beyond, exactly.

    signed: float32 array of signed distances (see `signed_edge_distance`); half >= 0. Returns float32 of the
    same shape in [0, 1]; with half = 0 it is the hard step `signed > 0`.
    """
    if half <= 0:
        return (signed > 0).astype(np.float32)
    return (0.5 + 0.5 * np.clip(signed / np.float32(half), -1.0, 1.0)).astype(np.float32)


def feather_alpha(mask: np.ndarray, band: float, threshold: float = 0.5) -> np.ndarray:
    """Alpha ramping from 0 to 1 across a band of `band` pixels centred on the mask edge.

    mask: float32 HxW in [0, 1], cut at `threshold`. Distances are measured from the edge between pixels
    (a pixel next to the edge is 0.5 away). Returns float32 HxW in [0, 1], exactly 0 at pixels `band / 2` or
    more outside the mask edge and exactly 1 at pixels `band / 2` or more inside it.
    """
    return feather_ramp(signed_edge_distance(mask >= threshold), band / 2.0)


def composite(original: np.ndarray, stylized: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`(1 - alpha) * original + alpha * stylized`, returning `original`'s exact values where alpha is 0.

    original, stylized: float32 HxWxC; alpha: float32 HxW in [0, 1].
    """
    out = original.copy()
    mixed = np.nonzero(alpha > 0)
    a = alpha[mixed][:, None]
    out[mixed] = (1.0 - a) * original[mixed] + a * stylized[mixed]
    return out


def seam_excess(result: np.ndarray, sources: list[np.ndarray], near: np.ndarray) -> float:
    """How visible the seams in `result` are: the mean squared excess contrast over the 4-neighbour pixel pairs
    touching `near`.

    A pair's contrast is the colour distance between its two pixels; its excess is how much the result's
    contrast exceeds the largest contrast any single source has across the same pair (0 if it does not). An
    edge that neither the footage nor any stylized image has is a seam; texture or outlines that one of the
    sources already has are not counted, however strong. A hard paste puts the whole colour difference of the
    two sides into one pair; a blend that spreads it where the sources agree leaves little excess.

    result, sources: float32 HxWx3 sRGB in [0, 1]; near: bool HxW, the pixels to look at (the blend band).
    Returns the mean of excess^2 in (sRGB units)^2; 0.0 when `near` is empty.
    """
    excess = []
    for first, second in (((slice(None), slice(0, -1)), (slice(None), slice(1, None))),
                          ((slice(0, -1), slice(None)), (slice(1, None), slice(None)))):
        pairs = near[first] | near[second]

        def contrast(image: np.ndarray) -> np.ndarray:
            return np.linalg.norm(image[second][pairs] - image[first][pairs], axis=1)

        natural = np.max([contrast(s) for s in sources], axis=0)
        excess.append(np.maximum(contrast(result) - natural, 0.0))
    values = np.concatenate(excess)
    return float(np.mean(values ** 2)) if len(values) else 0.0


def meeting_windows(owner: np.ndarray, reach: np.ndarray, margin: int) -> list[tuple[int, int, Box]]:
    """Where the pixels of two instances' styles meet within `reach`.

    owner: int HxW, each pixel's instance index; reach: bool HxW, the pixels that can show stylized pixels.
    Returns (lo, hi, (x0, y0, x1, y1)) for each pair of instances lo < hi whose pixels are 4-neighbours
    somewhere in `reach`, with the bounding box of those meeting pixels grown by `margin` (clipped to the frame).
    """
    h, w = owner.shape
    found: dict[tuple[int, int], list[np.ndarray]] = {}
    for first, second, step in (((slice(None), slice(0, -1)), (slice(None), slice(1, None)), (0, 1)),
                                ((slice(0, -1), slice(None)), (slice(1, None), slice(None)), (1, 0))):
        a, b = owner[first], owner[second]
        ys, xs = np.nonzero((a != b) & (reach[first] | reach[second]))
        lo, hi = np.minimum(a[ys, xs], b[ys, xs]), np.maximum(a[ys, xs], b[ys, xs])
        for pair in set(zip(lo.tolist(), hi.tolist())):
            at = (lo == pair[0]) & (hi == pair[1])
            found.setdefault(pair, []).append(np.stack([xs[at], ys[at], xs[at] + step[1], ys[at] + step[0]]))
    out = []
    for (lo, hi), boxes in sorted(found.items()):
        coords = np.concatenate(boxes, axis=1)
        x0, y0 = int(coords[0].min()) - margin, int(coords[1].min()) - margin
        x1, y1 = int(coords[2].max()) + 1 + margin, int(coords[3].max()) + 1 + margin
        out.append((lo, hi, (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h))))
    return out


def meeting_signed_distance(owner: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Signed distance from the line where instance `lo`'s pixels meet instance `hi`'s, positive on hi's side,
    measured like `signed_edge_distance` (+-0.5 next to the line); pixels of other instances are out of the
    band, on the side of whichever of the two is nearer (+-inf).

    owner: int hxw window of instance indices holding pixels of both. Returns float32 hxw.
    """
    to_lo = cv2.distanceTransform((owner != lo).astype(np.uint8), cv2.DIST_L2, 5)
    to_hi = cv2.distanceTransform((owner != hi).astype(np.uint8), cv2.DIST_L2, 5)
    signed = np.where(owner == hi, to_lo - 0.5, 0.5 - to_hi)
    other = np.where(to_hi < to_lo, np.inf, -np.inf)
    return np.where((owner == lo) | (owner == hi), signed, other).astype(np.float32)
