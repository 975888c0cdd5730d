"""Instance Mask: one soft mask per detected person or chosen object.

Two models:

- "centernet+rvm" (offline, from the npm registry): CenterNet boxes; people are matted by the selfie network
  on crops around each person (both qualities) and, at Better, also by Robust Video Matting on the whole
  frame, whose recurrent state lives in the shot and restarts at a seek or a cut (colour-histogram jump);
  other classes are cut out of their box by GrabCut.
- "maskrcnn" (a separate download): torchvision Mask R-CNN v2, one mask per instance from the network.

Where instances overlap, each pixel goes to the instance with the strongest claim: its matte value times
its closeness to the instance's box centre (`ops.masks.assign_ownership`), so the masks are disjoint and
together cover everything any of them found. Temporal smoothing blends each instance's mask with its
previous-frame mask (matched by box overlap, moved with the box) within a shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from ..frame_state import FrameState, Instance
from ..models.coco import COCO_CLASSES, PERSON
from ..models.person_matte import frame_matte
from ..modelstore import WeightsError
from ..ops import cuts
from ..ops import masks as mask_ops
from ..params import Param, StageSpec

MODELS = ("centernet+rvm", "maskrcnn")
QUALITIES = ("faster", "better")

SPEC = StageSpec(
    name="instance_mask",
    doc="Find people or chosen objects; one soft mask per instance.",
    params=(
        Param("model", "enum", "centernet+rvm", "centernet+rvm: offline models; maskrcnn: torchvision Mask R-CNN "
              "v2 (separate download: instyle-engine weights fetch maskrcnn_v2)", choices=MODELS),
        Param("classes", "enum_list", ("person",), "COCO classes to mask", choices=COCO_CLASSES),
        Param("score_threshold", "float", 0.35, "detections scoring below this are ignored", 0.0, 1.0),
        Param("max_instances", "int", 16, "keep at most this many, highest scores first", 1, 64),
        Param("quality", "enum", "better", "faster: one detector pass and crop mattes; better: also tiled "
              "detection and a whole-frame video matte", choices=QUALITIES),
        Param("grow", "int", 0, "grow (>0) or shrink (<0) each mask by this many pixels", -32, 32),
        Param("feather", "float", 0.0, "soften mask edges (Gaussian sigma in pixels)", 0.0, 32.0),
        Param("smoothing", "float", 0.0, "temporal smoothing: weight of an instance's previous-frame mask",
              0.0, 0.9),
    ),
    outputs=("mask", "index"),
)


@dataclass(frozen=True)
class Recipe:
    """What a quality setting runs."""

    tile_size: int | None  # extra detector passes on overlapping tiles of this size (frame pixels)
    frame_matte: bool  # RVM on the whole frame, combined with the crop mattes
    matte_side: int  # longest side RVM runs at
    grabcut_side: int  # longest side of the crop GrabCut runs on
    grabcut_iterations: int
    maskrcnn_side: int  # shorter side Mask R-CNN resizes frames to


RECIPES = {
    "faster": Recipe(None, False, 384, 96, 2, 512),
    "better": Recipe(384, True, 512, 192, 4, 800),
}


@dataclass
class ShotMemory:
    """What the stage keeps between the frames of one shot (in `ShotState.matte_state`)."""

    signature: np.ndarray | None = None  # colour signature of the previous frame
    rvm: object = None  # RobustVideoMatte with its recurrent state
    boxes: np.ndarray | None = None  # previous frame's instances: Nx4 boxes, N class ids, NxHxW masks
    class_ids: np.ndarray | None = None
    masks: np.ndarray | None = None

    def forget(self) -> None:
        self.boxes = self.class_ids = self.masks = None
        if self.rvm is not None:
            self.rvm.reset()


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Fills `state.instances` and `state.mask`; outputs the combined mask and the instance-index pass."""
    h, w = state.size
    memory, new_shot = _shot_memory(ctx)
    recipe = RECIPES[params["quality"]]
    find = _maskrcnn_instances if params["model"] == "maskrcnn" else _centernet_instances
    boxes, class_ids, scores, evidence = find(state, params, ctx, memory, recipe)
    state.report["instance_mask"] = {"new_shot": new_shot, "detections": len(boxes)}
    if len(boxes) == 0:
        memory.boxes = memory.class_ids = memory.masks = None
        state.instances, state.mask = [], np.zeros((h, w), np.float32)
        return {"mask": state.mask, "index": state.mask}

    owned = mask_ops.assign_ownership(evidence, boxes)
    if params["smoothing"] > 0 and memory.boxes is not None:
        owned = mask_ops.assign_ownership(_smoothed(owned, boxes, class_ids, memory, params["smoothing"]), boxes)
    memory.boxes, memory.class_ids, memory.masks = boxes, class_ids, owned
    refined = mask_ops.assign_ownership(mask_ops.refine(owned, params["grow"], params["feather"]), boxes)
    state.instances = [Instance(tuple(map(float, boxes[k])), COCO_CLASSES[class_ids[k]], float(scores[k]), refined[k])
                       for k in range(len(boxes))]
    state.mask = np.clip(refined.sum(axis=0), 0, 1)
    return {"mask": state.mask, "index": mask_ops.index_pass(refined)}


def _shot_memory(ctx) -> tuple[ShotMemory, bool]:
    """The shot's memory, cleared when this frame does not directly follow the last one or starts a new shot."""
    if not isinstance(ctx.shot.matte_state, ShotMemory):
        ctx.shot.matte_state = ShotMemory()
    memory = ctx.shot.matte_state
    signature = cuts.colour_signature(ctx.frame_uint8)
    new_shot = (memory.signature is None or ctx.index != ctx.shot.last_index + 1
                or cuts.is_cut(memory.signature, signature))
    memory.signature = signature
    if new_shot:
        memory.forget()
    return memory, new_shot


def _centernet_instances(state: FrameState, params: dict, ctx, memory: ShotMemory, recipe: Recipe):
    """Boxes Nx4, class ids N, scores N and evidence NxHxW from CenterNet plus mattes or GrabCut."""
    frame = ctx.frame_uint8
    wanted = {COCO_CLASSES.index(c) for c in params["classes"]}
    found = ctx.models.detector(recipe.tile_size).detect(frame, score_threshold=params["score_threshold"],
                                                          classes=wanted)[: params["max_instances"]]
    boxes = np.array([d.box for d in found], np.float32).reshape(-1, 4)
    class_ids = np.array([d.class_id for d in found], np.int64)
    scores = np.array([d.score for d in found], np.float32)
    evidence = np.zeros((len(found), *state.size), np.float32)
    people = np.flatnonzero(class_ids == PERSON)
    if len(people):
        evidence[people] = ctx.models.crop_matte()(frame, boxes[people])
        if recipe.frame_matte:
            if memory.rvm is None:
                memory.rvm = ctx.models.new_matte()
            alpha = frame_matte(memory.rvm, frame, recipe.matte_side)
            for k in people:
                window = mask_ops.box_window(state.size, boxes[k])
                evidence[k] = np.maximum(evidence[k], alpha * window)
    for k in np.flatnonzero(class_ids != PERSON):
        evidence[k] = mask_ops.grabcut_in_box(frame, boxes[k], recipe.grabcut_iterations, recipe.grabcut_side)
    return boxes, class_ids, scores, evidence


def _maskrcnn_instances(state: FrameState, params: dict, ctx, memory: ShotMemory, recipe: Recipe):
    """Boxes Nx4, class ids N, scores N and soft masks NxHxW from Mask R-CNN."""
    from ..models.maskrcnn import MODEL, segment

    try:
        net = ctx.models.maskrcnn()
    except WeightsError as exc:
        raise WeightsError(exc.code, f"Instance Mask's model 'maskrcnn' needs the Mask R-CNN v2 weights, which "
                           f"are not usable: {exc}", f"run `instyle-engine weights fetch {MODEL}` on a machine with "
                           "internet access (178 MiB), or set the node's Model to CenterNet + RVM") from None
    net.transform.min_size = (recipe.maskrcnn_side,)
    net.transform.max_size = round(recipe.maskrcnn_side * 1333 / 800)
    net.roi_heads.score_thresh = params["score_threshold"]
    found = segment(net, state.rgb, params["score_threshold"])
    wanted = np.isin(found.class_ids, [COCO_CLASSES.index(c) for c in params["classes"]])
    keep = np.flatnonzero(wanted)[: params["max_instances"]]
    return (found.boxes[keep].astype(np.float32).reshape(-1, 4), found.class_ids[keep].astype(np.int64),
            found.scores[keep].astype(np.float32), found.masks[keep].astype(np.float32))


def _smoothed(masks: np.ndarray, boxes: np.ndarray, class_ids: np.ndarray, memory: ShotMemory,
              weight: float) -> np.ndarray:
    """Blend each mask with its instance's previous mask, moved with the box; instances are matched one to one
    by box overlap (IoU at least 0.3, same class)."""
    iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(memory.boxes)).numpy()
    iou[class_ids[:, None] != memory.class_ids[None, :]] = 0.0
    rows, cols = linear_sum_assignment(-iou)
    out = masks.copy()
    for k, j in zip(rows, cols):
        if iou[k, j] >= 0.3:
            moved = mask_ops.carry_forward(memory.masks[j], memory.boxes[j], boxes[k])
            out[k] = (1.0 - weight) * masks[k] + weight * moved
    return out
