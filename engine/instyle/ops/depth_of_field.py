"""Portrait blur (Styfie): the background seen through a lens focused on the people, who stay out of its blur."""

from __future__ import annotations

import cv2
import numpy as np

LEFT_OUT = 1e-3
"""Where less than this share of a pixel's lens disc is background, the pixel keeps its own value."""


def lens_kernel(radius: float) -> np.ndarray:
    """A disc of `radius` pixels with an anti-aliased rim: the out-of-focus image of a point through a round
    aperture (bokeh), not a Gaussian.

    radius > 0. Returns float32 (2n+1)x(2n+1), n = ceil(radius), summing to 1.
    """
    if not radius > 0:
        raise ValueError(f"lens radius must be positive, got {radius!r}")
    n = int(np.ceil(radius))
    yy, xx = np.mgrid[-n:n + 1, -n:n + 1].astype(np.float32)
    disc = np.clip(radius + 0.5 - np.sqrt(xx * xx + yy * yy), 0.0, 1.0)
    return (disc / disc.sum()).astype(np.float32)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """float32 sRGB in [0, 1] to linear light (IEC 61966-2-1)."""
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """float32 linear light in [0, 1] to sRGB (IEC 61966-2-1)."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055).astype(np.float32)


def background_blur(rgb: np.ndarray, person: np.ndarray, radius: float) -> np.ndarray:
    """The frame with its background blurred as by a lens focused in front of it.

    Each pixel becomes the average, in linear light (bright spots spread into discs), of the background pixels
    in a disc of `radius` pixels around it, each weighted by how much it is background (1 - `person`): the people
    do not bleed into the blur around them. Pixels whose disc holds almost no background keep their own value.

    rgb: float32 HxWx3 sRGB in [0, 1]; person: float32 HxW in [0, 1]; radius >= 0 (0 returns `rgb` itself).
    Returns float32 HxWx3 sRGB in [0, 1]; `rgb` is not modified.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or person.shape != rgb.shape[:2]:
        raise ValueError(f"background_blur needs HxWx3 and HxW arrays, got {rgb.shape} and {person.shape}")
    if radius == 0:
        return rgb
    kernel = lens_kernel(radius)
    weight = (1.0 - np.clip(person, 0.0, 1.0)).astype(np.float32)
    linear = srgb_to_linear(rgb)
    total = cv2.filter2D(linear * weight[:, :, None], -1, kernel, borderType=cv2.BORDER_REFLECT)
    share = cv2.filter2D(weight, -1, kernel, borderType=cv2.BORDER_REFLECT)
    seen = share > LEFT_OUT
    out = linear.copy()
    out[seen] = total[seen] / share[seen][:, None]
    return linear_to_srgb(out)
