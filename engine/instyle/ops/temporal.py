"""Optical flow between footage frames (OpenCV DIS), warping by it, and the flicker measure of stylized video.

Conventions: `flow(a, b)` is the backward flow that pulls frame b onto frame a's pixel grid: pixel (x, y) of a
shows what b shows at (x + u, y + v). Occluded or unreliable pixels are found by the forward-backward
consistency test of Ruder et al. 2016 ("Artistic style transfer for videos").
"""

from __future__ import annotations

import cv2
import numpy as np


def _gray(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def flow(a: np.ndarray, b: np.ndarray, preset: str = "fast") -> np.ndarray:
    """DIS optical flow from frame a to frame b: float32 HxWx2, (u, v) in pixels.

    a, b: HxWx3 RGB, uint8 or float32 in [0, 1], the same size. `preset` is DIS's "ultrafast", "fast" (about
    10 ms at 768x576 on one core) or "medium" (about 35 ms, more accurate; what the warping error uses).
    """
    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
    return dis.calc(_gray(a), _gray(b), None)


def warp(image: np.ndarray, flow_ab: np.ndarray) -> np.ndarray:
    """`image` (frame b's grid, HxWxC or HxW float32) pulled onto frame a's grid along `flow_ab` (HxWx2):
    out(x, y) = image(x + u, y + v), bilinear, edges replicated."""
    h, w = flow_ab.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, grid_x + flow_ab[..., 0], grid_y + flow_ab[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def reliable(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """Pixels of a whose flow to b is trustworthy: bool HxW.

    A pixel fails when going to b and back does not return near its start (occlusion or a wrong match):
    |w + w'|^2 > 0.01 (|w|^2 + |w'|^2) + 0.5, with w' the b->a flow sampled where w lands; or when it lies on
    a motion boundary: |grad u|^2 + |grad v|^2 > 0.01 |w|^2 + 0.002.
    """
    back = warp(flow_ba, flow_ab)
    u, v, bu, bv = flow_ab[..., 0], flow_ab[..., 1], back[..., 0], back[..., 1]
    length = u * u + v * v
    consistent = (u + bu) ** 2 + (v + bv) ** 2 <= 0.01 * (length + bu * bu + bv * bv) + 0.5
    gradients = sum(cv2.Sobel(c, cv2.CV_32F, dx, dy, ksize=1) ** 2 for c in (u, v) for dx, dy in ((1, 0), (0, 1)))
    return consistent & (gradients <= 0.01 * length + 0.002)


def stabilise(current: np.ndarray, previous_warped: np.ndarray, trust: np.ndarray, weight: float) -> np.ndarray:
    """`current` (HxWx3 float32) mixed with `previous_warped` (the same grid) by `weight` in [0, 1) where `trust`
    (bool or float32 HxW in [0, 1]) holds, `current` elsewhere."""
    share = (weight * trust.astype(np.float32))[..., None]
    return current + share * (previous_warped - current)


def warping_error(out_a: np.ndarray, out_b: np.ndarray, src_a: np.ndarray, src_b: np.ndarray,
                  region: np.ndarray | None = None) -> float:
    """Flicker between consecutive stylized frames: mean over reliable pixels of a of the squared difference
    between `out_a` and `out_b` warped back onto a's grid by the footage's flow (Lai et al. 2018).

    out_a, out_b: stylized frames, float32 HxWx3 in [0, 1]; src_a, src_b: the footage frames they come from
    (uint8 or float32 RGB); the flow is DIS's medium preset, finer than what stabilisation uses. `region` (bool HxW) restricts the mean further, e.g. to stylized pixels.
    Returns the mean of squared differences summed over channels; 0 for identical, motion-compensated frames.
    """
    f_ab, f_ba = flow(src_a, src_b, "medium"), flow(src_b, src_a, "medium")
    keep = reliable(f_ab, f_ba)
    if region is not None:
        keep &= region
    if not keep.any():
        return 0.0
    diff = ((out_a - warp(out_b, f_ab)) ** 2).sum(-1)
    return float(diff[keep].mean())
