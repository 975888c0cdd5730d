"""Blending stylized pixels into the original frame along mask edges."""

from __future__ import annotations

import cv2
import numpy as np


def feather_alpha(mask: np.ndarray, band: float, threshold: float = 0.5) -> np.ndarray:
    """Alpha ramping from 0 to 1 across a band of `band` pixels centred on the mask edge.

    mask: float32 HxW in [0, 1], cut at `threshold`. Distances are measured from the edge between pixels
    (a pixel next to the edge is 0.5 away). Returns float32 HxW in [0, 1], exactly 0 at pixels `band / 2` or
    more outside the mask edge and exactly 1 at pixels `band / 2` or more inside it.
    """
    inside = (mask >= threshold).astype(np.uint8)
    if band <= 0 or not inside.any() or inside.all():
        return inside.astype(np.float32)
    half = band / 2.0
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5) - 0.5
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5) - 0.5
    ramp = np.where(inside == 1, 0.5 + 0.5 * np.minimum(d_in / half, 1.0), 0.5 - 0.5 * np.minimum(d_out / half, 1.0))
    ramp[(inside == 0) & (d_out >= half)] = 0.0
    ramp[(inside == 1) & (d_in >= half)] = 1.0
    return ramp.astype(np.float32)


def composite(original: np.ndarray, stylized: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`(1 - alpha) * original + alpha * stylized`, returning `original`'s exact values where alpha is 0.

    original, stylized: float32 HxWxC; alpha: float32 HxW in [0, 1].
    """
    a = alpha[:, :, None]
    mixed = (1.0 - a) * original + a * stylized
    return np.where(a > 0, mixed, original).astype(original.dtype)
