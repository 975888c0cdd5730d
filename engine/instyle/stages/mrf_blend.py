"""MRF Blend: stylized regions blended into the untouched background across a band at the mask edge."""

from __future__ import annotations

import numpy as np

from ..frame_state import FrameState
from ..ops.blend import composite, feather_alpha
from ..params import Param, StageSpec

SPEC = StageSpec(
    name="mrf_blend",
    doc="Blend the stylized image into the original inside a band along the mask edges; "
        "pixels outside the band keep their exact source values.",
    params=(
        Param("mode", "enum", "feather", "how labels are found in the band", choices=("feather",)),
        Param("band", "float", 6.0, "width in pixels of the blend band centred on the mask edge", 0.0, 256.0),
    ),
    outputs=("image", "alpha"),
    requires=("neural_style",),
)


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Sets `state.alpha` (the stylized share l1, float32 HxW in [0, 1]) and `state.blended` (HxWx3 sRGB)."""
    mask = state.mask if state.mask is not None else np.ones(state.size, np.float32)
    state.alpha = feather_alpha(mask, params["band"])
    state.blended = composite(state.rgb, state.stylized, state.alpha)
    return {"image": state.blended, "alpha": state.alpha}
