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
    """Sets `state.stylized` (float32 HxWx3 sRGB in [0, 1]); away from every instance it equals the source.
    Each instance keeps its own stylized pixels (`Instance.stylized` over `stylized_region`) for the blend.

    Instances are stylized as crops around their boxes when those cost less than whole-frame passes (one per
    distinct style), else the frame is stylized once per style; `state.report` says which.
    """
    instances, h, w = state.instances, *state.size
    scale = params["resolution"] / max(h, w) if params["resolution"] else 0.0
    if instances is None:
        state.stylized = ctx.stylize(state.rgb, [params["style"]], params["resolution"])[0]
        state.report["neural_style"] = {"mode": "frame", "styles": [params["style"]]}
        return _finish(state, params)
    palette = params["palette"]
    for k, inst in enumerate(instances):
        track = inst.track_id or k + 1
        inst.style = palette[(track - 1) % len(palette)] if params["per_track"] else params["style"]
    chosen = list(dict.fromkeys(inst.style for inst in instances))
    out = state.rgb.copy()
    if instances:
        owner = state.owner = nearest_instance(np.stack([i.mask for i in instances]))
        regions = [_region(i.box, h, w) for i in instances]
        crop_cost = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in regions)
        mode = "crops" if crop_cost < 0.8 * len(chosen) * h * w else "frame"
        if mode == "frame":
            stylized = ctx.stylize(state.rgb, chosen, params["resolution"])
            for k, inst in enumerate(instances):
                inst.stylized, inst.stylized_region = stylized[chosen.index(inst.style)], (0, 0, w, h)
                mine = owner == k
                out[mine] = inst.stylized[mine]
        else:
            for k, (inst, (x0, y0, x1, y1)) in enumerate(zip(instances, regions)):
                side = round(max(x1 - x0, y1 - y0) * scale) if scale else 0
                crop = ctx.stylize(state.rgb[y0:y1, x0:x1], [inst.style], side)[0]
                inst.stylized, inst.stylized_region = crop, (x0, y0, x1, y1)
                mine = owner[y0:y1, x0:x1] == k
                out[y0:y1, x0:x1][mine] = crop[mine]
        state.report["neural_style"] = {"mode": mode, "styles": chosen,
                                        "crop_share": round(crop_cost / (h * w), 4)}
    state.stylized = out
    return _finish(state, params)


def _region(box, h: int, w: int) -> tuple[int, int, int, int]:
    """The crop stylized for an instance: its box plus context wide enough for the blend band."""
    x1, y1, x2, y2 = box
    margin = max(32.0, 0.25 * max(x2 - x1, y2 - y1))
    return (max(int(x1 - margin), 0), max(int(y1 - margin), 0), min(int(np.ceil(x2 + margin)), w),
            min(int(np.ceil(y2 + margin)), h))


def _finish(state: FrameState, params: dict) -> dict[str, np.ndarray]:
    if params["strength"] < 1.0:
        state.stylized = cv2.addWeighted(state.rgb, 1.0 - params["strength"], state.stylized, params["strength"], 0.0)
        for inst in state.instances or ():
            x0, y0, x1, y1 = inst.stylized_region
            inst.stylized = cv2.addWeighted(state.rgb[y0:y1, x0:x1], 1.0 - params["strength"], inst.stylized,
                                            params["strength"], 0.0)
    mask = state.mask if state.mask is not None else np.ones(state.size, np.float32)
    return {"image": state.stylized, "mask": mask}
