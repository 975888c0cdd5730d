"""Instance Mask: detector boxes combined with a person matte into one soft mask per instance."""

from __future__ import annotations

import numpy as np

from ..frame_state import FrameState, Instance
from ..models.coco import COCO_CLASSES
from ..ops import masks as mask_ops
from ..params import Param, StageSpec

SPEC = StageSpec(
    name="instance_mask",
    doc="Find people or chosen objects; one soft mask per instance.",
    params=(
        Param("classes", "enum_list", ("person",), "COCO classes to mask", choices=COCO_CLASSES),
        Param("score_threshold", "float", 0.35, "detections scoring below this are ignored", 0.0, 1.0),
        Param("max_instances", "int", 16, "keep at most this many, highest scores first", 1, 64),
        Param("grow", "int", 0, "grow (>0) or shrink (<0) each mask by this many pixels", -32, 32),
        Param("feather", "float", 0.0, "soften mask edges (Gaussian sigma in pixels)", 0.0, 32.0),
    ),
    outputs=("mask", "index"),
)


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Fills `state.instances` and `state.mask`; outputs the combined mask and the instance-index pass."""
    h, w = state.size
    wanted = {COCO_CLASSES.index(c) for c in params["classes"]}
    detections = ctx.models.detector().detect(ctx.frame_uint8, score_threshold=params["score_threshold"],
                                               classes=wanted)
    detections = sorted(detections, key=lambda d: -d.score)[: params["max_instances"]]
    if not detections:
        state.instances, state.mask = [], np.zeros((h, w), np.float32)
        return {"mask": state.mask, "index": state.mask}

    matte = ctx.person_matte() if any(d.class_id == 0 for d in detections) else None
    boxes = np.array([d.box for d in detections], np.float32)
    evidence = np.stack([
        mask_ops.box_window((h, w), d.box) * (matte if d.class_id == 0 else 1.0) for d in detections
    ])
    owned = mask_ops.assign_ownership(evidence, boxes)
    refined = np.stack([mask_ops.feather(mask_ops.grow(m, params["grow"]), params["feather"]) for m in owned])
    refined = mask_ops.assign_ownership(np.clip(refined, 0, 1), boxes)
    state.instances = [Instance(tuple(map(float, d.box)), d.class_name, float(d.score), refined[k])
                       for k, d in enumerate(detections)]
    state.mask = np.clip(refined.sum(axis=0), 0, 1)
    return {"mask": state.mask, "index": mask_ops.index_pass(refined)}
