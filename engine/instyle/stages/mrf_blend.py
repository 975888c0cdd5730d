"""MRF Blend: stylized regions blended into the untouched background across a band at the mask edge, and into
each other where instances in different styles meet.

Modes: `mrf` (labels from a continuous Markov random field, ops/mrf.py), `feather` (a linear ramp across the
band), `naive` (a hard paste at the mask edge) and `poisson` (gradient-domain blending inside the band,
ops/poisson.py). Every mode leaves the pixels outside the band bit for bit as they were.

Outputs: `image` is the blended frame; `alpha` the mix factor of `stylized_for_mix` over the footage, exactly 0
outside the band; `stylized_for_mix` the neural_style image with the seams between instances blended (and, in
`poisson` mode, the solved band, where alpha is then 1). image == composite(footage, stylized_for_mix, alpha)
in every mode, which is what Blender's MRF Blend node computes from its own Image input. Without a neural_style
stage before it (a muted Neural Style node) there is nothing to blend: alpha is 0 and the frame passes unchanged.

Portrait blur (`background_blur` > 0, Styfie): the people, stylized or as they are, are blended in the same way
into the background seen through a lens blur (`ops.depth_of_field`) instead of the footage (into the background
in its own style, blurred, where Neural Style gave it one); nothing is then left as it was, so alpha is 1
everywhere and `stylized_for_mix` is the image (Blender's node mixes to the same frame). It needs an
instance_mask stage before it: the mask says who stays sharp.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..frame_state import FrameState
from ..ops.blend import (Box, composite, feather_ramp, meeting_signed_distance, meeting_windows,
                         signed_edge_distance)
from ..ops.depth_of_field import background_blur
from ..ops.mrf import mrf_labels
from ..ops.poisson import poisson_band
from ..wire import stage_specs
from ..wire.params import ParamError

SPEC = stage_specs.MRF_BLEND  # the stage's name, parameters and outputs, shipped to clients


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Sets `state.alpha` (float32 HxW in [0, 1]) and `state.blended` (float32 HxWx3 sRGB in [0, 1])."""
    radius = params["background_blur"]
    if state.stylized is None and radius == 0:
        state.alpha, state.blended = np.zeros(state.size, np.float32), state.rgb
        return {"image": state.rgb, "alpha": state.alpha, "stylized_for_mix": state.rgb}
    if radius > 0 and state.mask is None:
        raise ParamError("mrf_blend.background_blur needs an Instance Mask stage before MRF Blend, to keep the "
                         "people sharp", "add Instance Mask before it, or set Background Blur to 0")
    mode = params["mode"]
    half = 0.0 if mode == "naive" else params["band"] / 2.0
    layer = state.stylized if state.stylized is not None else state.rgb
    mask, base = _portrait(state, radius) if radius > 0 else (state.mask, state.rgb)
    alpha = np.zeros(state.size, np.float32)
    inside = (mask if mask is not None else np.ones(state.size, np.float32)) >= 0.5
    if inside.any():
        window = _work_window(inside, half)
        signed = signed_edge_distance(inside[window])
        layer = _blend_meetings(state, layer, window, signed > -half, mode, half, params["unary"])
        if mode == "poisson":
            band = np.abs(signed) < half
            layer = layer.copy() if layer is state.stylized or layer is state.rgb else layer
            layer[window][band] = poisson_band(base[window], layer[window], signed, half)[band]
            alpha[window] = signed > -half
        else:
            alpha[window] = _labels(mode, base[window], layer[window], signed, half, params["unary"])
    image = composite(base, layer, alpha)
    if radius > 0:
        alpha, layer = np.ones(state.size, np.float32), image
    state.alpha, state.blended = alpha, image
    return {"image": image, "alpha": alpha, "stylized_for_mix": layer}


def _portrait(state: FrameState, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """The people's mask (float32 HxW) and the blurred background behind them (float32 HxWx3): the footage's, or
    the background's own style where Neural Style gave it one (an instance of class "background")."""
    if not any(i.class_name == "background" for i in state.instances or []):
        return state.mask, background_blur(state.rgb, state.mask, radius)
    people = [i.mask for i in state.instances if i.class_name != "background"]
    mask = np.max(people, axis=0) if people else np.zeros(state.size, np.float32)
    return mask, background_blur(state.stylized, mask, radius)


def _work_window(inside: np.ndarray, half: float) -> tuple[slice, slice]:
    """The bounding box of `inside` (bool HxW, not empty) grown past the band: all a blend can change."""
    x, y, w, h = cv2.boundingRect(inside.astype(np.uint8))
    grow = math.ceil(half) + 2
    return slice(max(y - grow, 0), y + h + grow), slice(max(x - grow, 0), x + w + grow)


def _labels(mode: str, i0: np.ndarray, i1: np.ndarray, signed: np.ndarray, half: float, unary: float) -> np.ndarray:
    """The share of i1 (float32 hxw in [0, 1]) in the band |signed| < half for an alpha mode."""
    return mrf_labels(i0, i1, signed, half, unary) if mode == "mrf" else feather_ramp(signed, half)


def _blend_meetings(state: FrameState, layer: np.ndarray, window: tuple[slice, slice], reach: np.ndarray, mode: str,
                    half: float, unary: float) -> np.ndarray:
    """`layer` (`state.stylized`, or the footage where nothing is stylized) with every seam between two instances'
    styles blended like the mask edge, between the two instances' own stylized images, where it lies in `reach`
    (bool, over `window` of the frame); a copy, or `layer` itself when there is no such seam."""
    instances = state.instances or []
    if half <= 0 or state.owner is None or len(instances) < 2:
        return layer
    top, left = window[0].start, window[1].start
    for lo, hi, (x0, y0, x1, y1) in meeting_windows(state.owner[window], reach, math.ceil(half) + 2):
        a, b = instances[lo].stylized_region, instances[hi].stylized_region
        x0, y0 = max(x0 + left, a[0], b[0]), max(y0 + top, a[1], b[1])
        x1, y1 = min(x1 + left, a[2], b[2]), min(y1 + top, a[3], b[3])
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        s_lo, s_hi = (_crop(instances[k].stylized, instances[k].stylized_region, (x0, y0, x1, y1)) for k in (lo, hi))
        signed = meeting_signed_distance(state.owner[y0:y1, x0:x1], lo, hi)
        signed = np.where(reach[y0 - top:y1 - top, x0 - left:x1 - left], signed, np.copysign(np.inf, signed))
        band = np.abs(signed) < half
        if not band.any():
            continue
        if mode == "poisson":
            mixed = poisson_band(s_lo, s_hi, signed, half)
        else:
            share = _labels(mode, s_lo, s_hi, signed, half, unary)[:, :, None]
            mixed = (1.0 - share) * s_lo + share * s_hi
        layer = layer.copy() if layer is state.stylized else layer
        layer[y0:y1, x0:x1][band] = mixed[band]
    return layer


def _crop(image: np.ndarray, region: Box, window: Box) -> np.ndarray:
    """The part of `image` (which covers `region` of the frame) that covers `window`, inside `region`."""
    return image[window[1] - region[1]:window[3] - region[1], window[0] - region[0]:window[2] - region[0]]
