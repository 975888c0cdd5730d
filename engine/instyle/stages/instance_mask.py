"""Instance Mask: one soft mask per detected person or chosen object.

Two models:

- "centernet+rvm" (offline, from the npm registry): CenterNet boxes; people are matted by the selfie network
  on crops around each person and, where they are at least `ops.person_mattes.FRAME_MATTE_HEIGHT` pixels tall, also by Robust
  Video Matting on the whole frame, whose recurrent state lives in the shot (`ops.person_mattes.with_frame_matte`
  combines them).
  On the labelled hard-case clips the selfie network alone loses people cut by the frame's edge, in low light
  and in front of busy walls, where RVM holds them; RVM at 384 px loses small people, where the crops hold
  them. Other classes are cut out of their box by GrabCut. Faster runs the detector on every second frame of a
  shot and moves the boxes on at their speed in between; Better runs it on every frame, plus overlapping tiles
  that find small people.
  A person box whose mattes are weak there (under 0.5) is scaled up to full strength where they still see
  someone (`ops.masks.seen_person`: low light, cartoon figures), and dropped where they see no one.
- "maskrcnn" (a separate download): torchvision Mask R-CNN v2, one mask per instance from the network.

A tall person box CenterNet is unsure of (from `CONFIRM_FROM` to `score_threshold`) that NanoDet, a second detector,
also boxes is confident (`_confirmed`): people CenterNet scores low in unusual poses, as a footballer mid-kick.

Detections scoring between `weak_threshold` and `score_threshold` are weak: those overlapping an instance of
the previous frame are matted (in inputs of their own, so the confident ones' mattes are as without them) but own
only what the confident ones leave, and are kept only for the Instance Tracker, which lets them continue
people it already follows and drops the rest (ByteTrack's two thresholds). Without a tracker in the pipeline
they are not looked for. The stage's own outputs show the confident instances.

A shot's first frame (after a cut or a seek) always runs the detector, at either quality.

A shot ends at a seek (a frame that does not follow the last one) or a cut (a jump of the colour histogram,
`ops.cuts`); the matte's state, carried boxes and smoothing memory start again.

Where instances overlap, each pixel goes to the instance with the strongest claim: its matte value times
its closeness to the instance's box centre (`ops.masks.assign_ownership`), so the masks are disjoint and
together cover everything any of them found. Temporal smoothing blends each instance's mask with its
previous-frame mask (matched by box overlap, moved with the box) within a shot.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from ..frame_state import FrameState, Instance
from ..models.person_matte import frame_matte
from ..modelstore import WeightsError
from ..ops import box_motion, cuts
from ..ops.person_mattes import FRAME_MATTE_HEIGHT, WINDOW, tall, with_frame_matte
from ..ops.tracking import intersections
from ..ops import masks as mask_ops
from ..wire.coco import COCO_CLASSES, PERSON
from ..wire import stage_specs

SPEC = stage_specs.INSTANCE_MASK  # the stage's name, parameters and outputs, shipped to clients

@dataclass(frozen=True)
class Recipe:
    """What a quality setting runs."""

    detect_every: int  # within a shot, CenterNet runs on every n-th frame; boxes move on in between
    tile_size: int | None  # extra detector passes on overlapping tiles of this size (frame pixels)
    matte_side: int  # longest side RVM runs at (384: on the hard-case clips 512 lost people in low light)
    grabcut_side: int  # longest side of the crop GrabCut runs on
    grabcut_iterations: int
    maskrcnn_side: int  # shorter side Mask R-CNN resizes frames to


RECIPES = {
    "faster": Recipe(detect_every=2, tile_size=None, matte_side=384, grabcut_side=96,
                     grabcut_iterations=2, maskrcnn_side=512),
    "better": Recipe(detect_every=1, tile_size=384, matte_side=384, grabcut_side=192,
                     grabcut_iterations=4, maskrcnn_side=800),
}


CARRY_FRAMES = 12
"""A detected person whose matte collapses keeps their moved mask (`_carry`) for at most this many frames in a row:
as long as the Instance Tracker's default `hold` keeps a person the detector misses. On the hard-case clips the
matte lost a person in low light and a CG figure for more than 3 frames in a row while the detector still boxed
them: with 3 they dropped out (2 dropouts), with 12 none did."""
COLLAPSED = 0.6
"""A person's matte has collapsed where it covers less than this share of their previous mask (`ops.masks.collapsed`).
On the hard-case clips (Faster, carried for up to 12 frames): 0.5 left 19 blinks, 0.6 16 (the CG clip's 2 gone, recall
0.815 -> 0.821, mask IoU 0.729 -> 0.728), 0.7 18 (people walking behind the pillar then kept their whole mask).
Better: 18 blinks at 0.5, 19 at 0.6 (recall 0.868 both)."""
CONFIRM_FROM = 0.25
CONFIRM_SECOND = 0.3
CONFIRM_IOU = 0.5
"""A tall CenterNet person box, new to the shot, scoring from CONFIRM_FROM to `score_threshold`, that NanoDet also
boxes (its score at least CONFIRM_SECOND, box IoU at least CONFIRM_IOU) is confident (`_confirmed`). The cut clip's
footballer in a kicking pose over graffiti: CenterNet scores him 0.24-0.31 for the seven frames after the cut, NanoDet
0.37-0.54; he was left unstyled until CenterNet was sure of him, 9 frames later. Hard-case clips (recall, mask IoU,
boundary F, blinks; false styles): Faster 0.821, 0.728, 0.669, 16; 9 -> 0.828, 0.736, 0.675, 18; 9 (the two new
blinks: frames where the footballer, now styled, kept only his legs; `_duplicates` mends one), Better 0.871, 0.769,
0.718, 16; 7 -> 0.874, 0.771, 0.719, 16; 7; held-out night-graded clips unchanged. Rejected: NanoDet at 0.1 (Faster
0.849, 0.750; false styles 37, Better worse), boxes of any height (an orange cone, vtest's rock and a shape in a
doorway confirmed), weak boxes continuing someone already followed (Better, with boxes of any height too: blinks
16 -> 21, 3 dropouts)."""
DUPLICATE_IOU = 0.5
"""A weak detection overlapping a better weak box of its class by this box IoU is another box on the same someone
(`_duplicates`)."""
DUPLICATE_INSIDE = 0.9
"""A tall weak detection with this share of its area inside a better weak box of its class is a part of that someone
(`_duplicates`)."""
CARRY_FILL = 0.3
"""Only a mask that filled at least this share of its box is carried: a person's, not the specks a weak matte finds
on a rock the detector takes for someone (vtest's rock: 0.19; people fill 0.4-0.6 of their box)."""


@dataclass
class ShotMemory:
    """What the stage keeps between the frames of one shot (in `ShotState.mask_memory`): `index` is the footage
    frame it was left at."""

    index: int = -2
    signature: np.ndarray | None = None  # colour signature of the previous frame
    grey: np.ndarray | None = None  # the previous frame, uint8 HxW
    rvm: object = None  # RobustVideoMatte with its recurrent state
    detect_key: tuple | None = None  # the parameters of the last detection, and the frames since
    since_detection: int = 0
    boxes: np.ndarray | None = None  # previous frame's instances: Nx4 boxes, N class ids and scores, NxHxW masks
    class_ids: np.ndarray | None = None
    scores: np.ndarray | None = None
    masks: np.ndarray | None = None
    carried: np.ndarray | None = None  # int64 N: for how many frames in a row each was carried (`_carry`)

    def fork(self) -> "ShotMemory":
        """A copy that goes on on its own: the stage replaces these arrays rather than writing into them, and the
        matte's recurrent state is forked."""
        return replace(self, rvm=self.rvm.fork() if self.rvm is not None else None)

    def forget(self) -> None:
        self.detect_key = self.boxes = self.class_ids = self.scores = self.masks = self.carried = None
        if self.rvm is not None:
            self.rvm.reset()


@dataclass(frozen=True)
class Checkpoint:
    """The stage's memory of a shot after frame `memory.index`, without models, to go on from in another engine
    (a cluster worker starting a chunk there, see `cluster.bakes`): `memory` without its matte, and the matte's
    recurrent state (`RobustVideoMatte.state`; None when it has none)."""

    memory: ShotMemory
    matte: tuple | None


def checkpoint(memory: ShotMemory) -> Checkpoint:
    """`memory` as a `Checkpoint` (copies: the shot goes on unchanged)."""
    return Checkpoint(replace(memory, rvm=None), memory.rvm.state() if memory.rvm is not None else None)


def resume(point: Checkpoint, zoo) -> ShotMemory:
    """A memory that goes on from `point` with `zoo`'s models: a frame after `point.memory.index` is masked as
    in the engine the checkpoint came from."""
    memory = replace(point.memory)
    if point.matte is not None:
        memory.rvm = zoo.new_matte()
        memory.rvm.restore(point.matte)
    return memory


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Fills `state.instances` and `state.mask`; outputs the combined mask and the instance-index pass."""
    return run_recipe(state, params, ctx, RECIPES[params["quality"]])


def run_recipe(state: FrameState, params: dict, ctx, recipe: Recipe) -> dict[str, np.ndarray]:
    """`run` with the quality's recipe given (the benchmark varies it)."""
    h, w = state.size
    memory, new_shot, continued = _shot_memory(ctx)
    report = state.report["instance_mask"] = {"new_shot": new_shot, "continued": continued, "detected": True}
    grey = cv2.cvtColor(ctx.frame_uint8, cv2.COLOR_RGB2GRAY)
    previous_grey, memory.grey = memory.grey, grey
    find = _maskrcnn_instances if params["model"] == "maskrcnn" else _centernet_instances
    boxes, class_ids, scores, evidence = find(state, params, ctx, memory, recipe, previous_grey)
    weak = scores < params["score_threshold"]
    owned = _owned(evidence, boxes, weak)
    for k in np.flatnonzero((class_ids == PERSON) & (owned.max(axis=(1, 2), initial=0.0) < 0.5)):
        rescued = mask_ops.seen_person(owned[k], boxes[k])  # a weak matte (low light, a cartoon) scaled up
        if rescued is not None:
            owned[k] = rescued
    carried = np.zeros(len(boxes), np.int64)
    if memory.masks is not None and memory.carried is not None:
        owned, carried = _carry(boxes, class_ids, owned, weak, memory, params["score_threshold"])
    seen = (class_ids != PERSON) | (owned.max(axis=(1, 2), initial=0.0) >= 0.5)
    report.update(boxes=int((~weak).sum()), weak=int(weak.sum()), unseen=int((~seen).sum()),
                  carried=int((carried > 0).sum()))
    boxes, class_ids, scores, owned = boxes[seen], class_ids[seen], scores[seen], owned[seen]  # matte saw no one
    weak, carried = weak[seen], carried[seen]
    if params["smoothing"] > 0 and memory.masks is not None and len(boxes):
        owned = _owned(_smoothed(owned, boxes, class_ids, memory, params["smoothing"]), boxes, weak)
    memory.boxes, memory.class_ids, memory.scores, memory.index = boxes, class_ids, scores, ctx.index
    memory.masks, memory.carried = owned, carried
    if len(boxes) == 0:
        state.instances, state.mask = [], np.zeros((h, w), np.float32)
        return {"mask": state.mask, "index": state.mask}
    refined = mask_ops.refine(owned, params["grow"], params["feather"])
    if refined is not owned:  # grown or feathered masks may overlap again
        refined = _owned(refined, boxes, weak)
    state.instances = [Instance(tuple(map(float, boxes[k])), COCO_CLASSES[class_ids[k]], float(scores[k]), refined[k],
                                weak=bool(weak[k])) for k in range(len(boxes))]
    state.mask = np.clip(refined[~weak].sum(axis=0), 0, 1)
    return {"mask": state.mask, "index": mask_ops.index_pass(refined[~weak])}


def _owned(evidence: np.ndarray, boxes: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """Disjoint masks NxHxW in [0, 1] from evidence NxHxW for Nx4 boxes: the confident instances share the
    pixels as `ops.masks.assign_ownership` shares them, and the weak ones (bool N) what they leave, so a weak box
    never takes a confident person's pixels."""
    if not weak.any():
        return mask_ops.assign_ownership(evidence, boxes)
    owned = np.zeros_like(evidence)
    owned[~weak] = mask_ops.assign_ownership(evidence[~weak], boxes[~weak])
    free = 1.0 - np.clip(owned[~weak].sum(axis=0), 0.0, 1.0)
    owned[weak] = mask_ops.assign_ownership(evidence[weak] * free, boxes[weak])
    return owned


def _shot_memory(ctx) -> tuple[ShotMemory, bool, bool]:
    """The shot's memory, cleared when this frame does not directly follow the frame it was left at (`continued`
    is False) or starts a new shot; returns it, whether the frame starts a shot, and `continued`."""
    if not isinstance(ctx.shot.mask_memory, ShotMemory):
        ctx.shot.mask_memory = ShotMemory()
    memory = ctx.shot.mask_memory
    signature = cuts.colour_signature(ctx.frame_uint8)
    continued = memory.signature is not None and ctx.index == memory.index + 1
    new_shot = not continued or cuts.is_cut(memory.signature, signature)
    memory.signature, memory.index = signature, -2  # `run_recipe` sets the index once the frame is done
    if new_shot:
        memory.forget()
    return memory, new_shot, continued


def _centernet_instances(state: FrameState, params: dict, ctx, memory: ShotMemory, recipe: Recipe,
                         previous_grey: np.ndarray | None):
    """Boxes Nx4, class ids N, scores N and evidence NxHxW from CenterNet plus mattes or GrabCut."""
    frame = ctx.frame_uint8
    boxes, class_ids, scores = _boxes(state, params, ctx, memory, recipe, previous_grey)
    evidence = np.zeros((len(boxes), *state.size), np.float32)
    people = np.flatnonzero(class_ids == PERSON)
    weak = scores < params["score_threshold"]
    for group in (people[~weak[people]], people[weak[people]]):  # crops share inputs: weak ones never change
        if len(group):                                            # the confident ones' mattes
            evidence[group] = ctx.models.crop_matte()(frame, boxes[group], WINDOW)
    if tall(boxes[people]).any():
        if memory.rvm is None:
            memory.rvm = ctx.models.new_matte()
        state.person_alpha = frame_matte(memory.rvm, frame, recipe.matte_side)
        evidence[people] = with_frame_matte(evidence[people], boxes[people], state.person_alpha)
    for k in np.flatnonzero(class_ids != PERSON):
        evidence[k] = mask_ops.grabcut_in_box(frame, boxes[k], recipe.grabcut_iterations, recipe.grabcut_side)
    return boxes, class_ids, scores, evidence


def _boxes(state: FrameState, params: dict, ctx, memory: ShotMemory, recipe: Recipe,
           previous_grey: np.ndarray | None):
    """Boxes Nx4, class ids N and scores N: CenterNet's, or between detections the last frame's instances moved
    on with the motion of their pixels from `previous_grey` (the previous frame, uint8 HxW) to `memory.grey`."""
    low = lowest_score(params, ctx)
    key = (params["classes"], params["score_threshold"], low, params["max_instances"], recipe.tile_size)
    if (memory.detect_key == key and memory.since_detection + 1 < recipe.detect_every and memory.masks is not None
            and previous_grey is not None):
        memory.since_detection += 1
        state.report["instance_mask"]["detected"] = False
        boxes = box_motion.follow_boxes(previous_grey, memory.grey, memory.boxes, memory.masks)
        return boxes, memory.class_ids, memory.scores
    memory.detect_key, memory.since_detection = key, 0
    wanted = {COCO_CLASSES.index(c) for c in params["classes"]}
    found = ctx.models.detector(recipe.tile_size).detect(ctx.frame_uint8, score_threshold=min(low, CONFIRM_FROM),
                                                          classes=wanted)
    found = _confirmed(found, params["score_threshold"], memory.boxes, ctx)
    found = sorted((d for d in found if d.score >= low), key=lambda d: -d.score)[: params["max_instances"]]
    found = [d for d in found if d.score >= params["score_threshold"] or _continues(d.box, memory.boxes)]
    boxes = np.array([d.box for d in found], np.float32).reshape(-1, 4)
    class_ids = np.array([d.class_id for d in found], np.int64)
    scores = np.array([d.score for d in found], np.float32)
    keep = ~_duplicates(boxes, class_ids, scores < params["score_threshold"])
    return boxes[keep], class_ids[keep], scores[keep]


def _confirmed(found: list, threshold: float, previous: np.ndarray | None, ctx) -> list:
    """CenterNet's detections `found` (best first) with the person boxes at least FRAME_MATTE_HEIGHT px tall scoring
    from CONFIRM_FROM up to `threshold` that NanoDet also sees (a person box of its own scoring at least
    CONFIRM_SECOND, box IoU at least CONFIRM_IOU) lifted to `threshold`: confident, so they can start a track. Boxes
    that continue an instance of the previous frame (Nx4 `previous`, None at a shot's start; `_continues`) stay as
    they are: weak, they already continue who they are on. NanoDet runs only when there is a box to confirm."""
    unsure = [k for k, d in enumerate(found) if d.class_id == PERSON and CONFIRM_FROM <= d.score < threshold
              and d.box[3] - d.box[1] >= FRAME_MATTE_HEIGHT and not _continues(d.box, previous)]
    if not unsure:
        return found
    second = ctx.models.nanodet().detect(ctx.frame_uint8, score_threshold=CONFIRM_SECOND, classes={PERSON})
    if not second:
        return found
    iou = box_iou(torch.tensor([found[k].box for k in unsure], dtype=torch.float32),
                  torch.tensor([d.box for d in second], dtype=torch.float32)).amax(dim=1)
    out = list(found)
    for k, overlap in zip(unsure, iou.tolist()):
        if overlap >= CONFIRM_IOU:
            out[k] = replace(found[k], score=threshold)
    return out


def _duplicates(boxes: np.ndarray, class_ids: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """bool N: the weak detections (bool N) among Nx4 boxes (best first, x1, y1, x2, y2 pixels) of class ids N that
    overlap a better weak box of their class by DUPLICATE_IOU, or lie in one (DUPLICATE_INSIDE of their area) and are
    at least FRAME_MATTE_HEIGHT px tall: more boxes on someone the detector is unsure of, or a part of them.
    CenterNet gives such a person several weak boxes (the cut clip's footballer mid-kick: five, 0.11-0.24); each
    took a piece of them, so none held their mask and the one the tracker kept was a fragment. A box around his
    upper body (IoU 0.47 with his whole box) took his head and chest on every second frame after he was found
    (Faster, cut clip: recall 0.829 -> 0.848); a short box inside a weak one is more often a far person inside a
    group's box (Better, small clip: one more blink when it counted too). A confident box is
    never a duplicate, nor makes one: a weak box on a confident one is most often the person behind (on the edge
    clip's crossing, dropping it swapped the two people's ids)."""
    out = np.zeros(len(boxes), bool)
    if not weak.any():
        return out
    iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy()
    for k in np.flatnonzero(weak):
        better = np.flatnonzero((class_ids[:k] == class_ids[k]) & weak[:k] & ~out[:k])
        area = float((boxes[k, 2] - boxes[k, 0]) * (boxes[k, 3] - boxes[k, 1]))
        tall_part = (boxes[k, 3] - boxes[k, 1] >= FRAME_MATTE_HEIGHT and area > 0
                     and (intersections(boxes[k:k + 1], boxes[better])[0] >= DUPLICATE_INSIDE * area).any())
        out[k] = bool((iou[k, better] >= DUPLICATE_IOU).any() or tall_part)
    return out


def _continues(box, previous: np.ndarray | None, min_iou: float = 0.2) -> bool:
    """Whether a weak detection's box (x1, y1, x2, y2) overlaps an instance of the previous frame (Nx4 boxes, None
    at a shot's start) by `min_iou`: only those can continue someone followed (ByteTrack offers weak boxes to the
    tracks followed in the last frame), so only those are matted."""
    if previous is None or len(previous) == 0:
        return False
    return bool(box_iou(torch.tensor([box], dtype=torch.float32),
                        torch.from_numpy(previous.astype(np.float32))).max() >= min_iou)


def lowest_score(params: dict, ctx) -> float:
    """The lowest detector score an instance is kept at: `weak_threshold` when an Instance Tracker follows this
    stage in the pipeline (and it is under `score_threshold`), else `score_threshold`."""
    if "instance_tracker" not in ctx.pipeline:
        return params["score_threshold"]
    return min(params["weak_threshold"], params["score_threshold"])


def _matches(boxes: np.ndarray, class_ids: np.ndarray, old_boxes: np.ndarray, old_class_ids: np.ndarray,
             min_iou: float = 0.3) -> list[tuple[int, int]]:
    """One-to-one pairs (new index, old index) of boxes of the same class overlapping by IoU >= `min_iou`,
    the total overlap as large as possible."""
    if len(boxes) == 0 or len(old_boxes) == 0:
        return []
    iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(old_boxes.astype(np.float32))).numpy()
    iou[class_ids[:, None] != old_class_ids[None, :]] = 0.0
    rows, cols = linear_sum_assignment(-iou)
    return [(int(k), int(j)) for k, j in zip(rows, cols) if iou[k, j] >= min_iou]


def _maskrcnn_instances(state: FrameState, params: dict, ctx, memory: ShotMemory, recipe: Recipe,
                        previous_grey: np.ndarray | None):
    """Boxes Nx4, class ids N, scores N and soft masks NxHxW from Mask R-CNN."""
    from ..models.maskrcnn import MODEL, segment

    memory.detect_key = None  # CenterNet boxes of earlier frames are not carried past this one
    try:
        net = ctx.models.maskrcnn()
    except WeightsError as exc:
        raise WeightsError(exc.code, f"Instance Mask's model 'maskrcnn' needs the Mask R-CNN v2 weights, which "
                           f"are not usable: {exc}", f"run `instyle-engine weights fetch {MODEL}` on a machine with "
                           "internet access (178 MiB), or set the node's Model to CenterNet + RVM") from None
    net.transform.min_size = (recipe.maskrcnn_side,)  # the shared network: the service runs one request at a time
    net.transform.max_size = round(recipe.maskrcnn_side * 1333 / 800)
    low = lowest_score(params, ctx)
    net.roi_heads.score_thresh = low
    found = segment(net, state.rgb, low)
    wanted = np.isin(found.class_ids, [COCO_CLASSES.index(c) for c in params["classes"]])
    keep = np.flatnonzero(wanted)[: params["max_instances"]]
    return (found.boxes[keep].astype(np.float32).reshape(-1, 4), found.class_ids[keep].astype(np.int64),
            found.scores[keep].astype(np.float32), found.masks[keep].astype(np.float32))


def _carry(boxes: np.ndarray, class_ids: np.ndarray, owned: np.ndarray, weak: np.ndarray, memory: ShotMemory,
           threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Detected people kept whole through a frame in which their matte collapses, for at most CARRY_FRAMES frames in
    a row (a person is not lost because one frame's matte is weak): a person matched to one of the previous frame's
    (`_matches`) whose mask has collapsed (COLLAPSED) against their previous mask moved with the box gets the larger
    of the two. Only people who were confident (score at least `threshold`) in the previous frame, or carried from
    such a frame, and whose mask there filled CARRY_FILL of their box, are carried, so weak detections that continue
    nothing the tracker follows are not kept alive by each other, nor a matte's specks on an object taken for a
    person. (People the detector misses are the Instance Tracker's to hold, for its `hold` frames.)
    Takes boxes Nx4, class ids N, disjoint masks NxHxW in [0, 1] and weak flags N; returns the masks, disjoint, and
    `carried`, int64 N: frames carried in a row (0: the frame's own mask)."""
    carried = np.zeros(len(boxes), np.int64)
    eligible = ((memory.class_ids == PERSON) & (memory.carried < CARRY_FRAMES)
                & ((memory.scores >= threshold) | (memory.carried > 0)))
    out = owned
    for k, j in _matches(boxes, class_ids, memory.boxes, memory.class_ids):
        if not eligible[j] or _fill(memory.masks[j], memory.boxes[j]) < CARRY_FILL:
            continue
        moved = mask_ops.carry_forward(memory.masks[j], memory.boxes[j], boxes[k])
        if mask_ops.collapsed(owned[k], moved, COLLAPSED):
            out = out.copy() if out is owned else out
            out[k] = np.maximum(owned[k], moved)
            carried[k] = memory.carried[j] + 1
    if carried.any():  # the people carried share pixels as confident ones do: weak boxes get what they leave
        out = _owned(out, boxes, weak & (carried == 0))
    return out, carried


def _fill(mask: np.ndarray, box) -> float:
    """Pixels of float32 HxW `mask` at 0.5 or more over the area of `box` (x1, y1, x2, y2 pixels, each side at least
    1): 0..1 for a mask within its box."""
    x1, y1, x2, y2 = box
    return float(np.count_nonzero(mask >= 0.5)) / (max(x2 - x1, 1.0) * max(y2 - y1, 1.0))


def _smoothed(masks: np.ndarray, boxes: np.ndarray, class_ids: np.ndarray, memory: ShotMemory,
              weight: float) -> np.ndarray:
    """Blend each mask with its instance's previous mask, moved with the box; instances are matched one to one
    by box overlap (`_matches`)."""
    out = masks.copy()
    for k, j in _matches(boxes, class_ids, memory.boxes, memory.class_ids):
        moved = mask_ops.carry_forward(memory.masks[j], memory.boxes[j], boxes[k])
        out[k] = (1.0 - weight) * masks[k] + weight * moved
    return out
