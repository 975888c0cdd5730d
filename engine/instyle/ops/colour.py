"""Colour preservation for style transfer (Gatys et al. 2017, "Controlling perceptual factors in neural style
transfer"): keep the footage's colours, take only the style's texture."""

from __future__ import annotations

import cv2
import numpy as np


def luminance_only(content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """The stylized image's luma (Y of YCrCb) with the content's chroma (Cr, Cb).

    content, stylized: float32 HxWx3 sRGB in [0, 1], the same size. Returns float32 HxWx3 in [0, 1].
    """
    y = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)[..., :1]
    chroma = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)[..., 1:]
    return np.clip(cv2.cvtColor(np.concatenate([y, chroma], -1), cv2.COLOR_YCrCb2RGB), 0.0, 1.0)


def match_colours(image: np.ndarray, reference: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """`image` with its colour distribution's mean and covariance moved onto `reference`'s (the linear colour
    transfer of Gatys et al., by matrix square roots of the covariances).

    image, reference: float32 HxWx3 and hxwx3 RGB in [0, 1] (any sizes). Returns float32 HxWx3 in [0, 1].
    """
    x = image.reshape(-1, 3).astype(np.float64)
    r = reference.reshape(-1, 3).astype(np.float64)
    mu_x, mu_r = x.mean(0), r.mean(0)
    cov_x = np.cov(x, rowvar=False) + eps * np.eye(3)
    cov_r = np.cov(r, rowvar=False) + eps * np.eye(3)
    transform = _sqrtm(cov_r) @ np.linalg.inv(_sqrtm(cov_x))
    out = (x - mu_x) @ transform.T + mu_r
    return np.clip(out, 0.0, 1.0).reshape(image.shape).astype(np.float32)


def _sqrtm(cov: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive definite 3x3 matrix."""
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T
