"""Neural Style: a fast feed-forward style per instance (by track id), or on the whole frame."""

from __future__ import annotations

import cv2
import numpy as np

from ..frame_state import FrameState
from ..models.fast_style import STYLE_NAMES
from ..ops.masks import nearest_instance
from ..params import Param, StageSpec

DEFAULT_PALETTE = ("style03", "style13", "style19", "style24")

SPEC = StageSpec(
    name="neural_style",
    doc="Stylize each instance in its own style, or the whole frame when no mask stage precedes.",
    params=(
        Param("style", "enum", "style03", "style for every instance (and the whole frame without masks)",
              choices=STYLE_NAMES),
        Param("per_track", "bool", True, "give each track the next style of the palette, cycling"),
        Param("palette", "enum_list", DEFAULT_PALETTE, "styles cycled through by track id", choices=STYLE_NAMES),
        Param("strength", "float", 1.0, "0 keeps the original, 1 is fully stylized", 0.0, 1.0),
        Param("resolution", "int", 0, "longest side the network runs at (0: the frame's own)", 0, 8192),
    ),
    outputs=("image", "mask"),
)


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Sets `state.stylized` (float32 HxWx3 sRGB in [0, 1]); outside every instance it equals the source."""
    instances = state.instances
    if instances is None:
        chosen = [params["style"]]
    else:
        for k, inst in enumerate(instances):
            track = inst.track_id or k + 1
            palette = params["palette"]
            inst.style = palette[(track - 1) % len(palette)] if params["per_track"] else params["style"]
        chosen = list(dict.fromkeys(inst.style for inst in instances))
    if not chosen:
        state.stylized = state.rgb.copy()
        return {"image": state.stylized, "mask": _mask(state)}

    stylized = ctx.stylize(state.rgb, chosen, params["resolution"])
    if instances is None:
        out = stylized[0]
    else:
        owner = nearest_instance(np.stack([i.mask for i in instances]))
        style_of = np.array([chosen.index(i.style) for i in instances])[owner]
        out = np.take_along_axis(stylized, style_of[None, :, :, None], axis=0)[0]
    if params["strength"] < 1.0:
        out = cv2.addWeighted(state.rgb, 1.0 - params["strength"], out, params["strength"], 0.0)
    state.stylized = out.astype(np.float32)
    return {"image": state.stylized, "mask": _mask(state)}


def _mask(state: FrameState) -> np.ndarray:
    return state.mask if state.mask is not None else np.ones(state.size, np.float32)
