"""Instance Tracker: each person keeps an identity, and so a style, for the whole shot.

Given the footage frame the shot starts at (`shot_start`), identities are worked out in the shot's order
from there, as a render in order would, and recorded in the shot's track store (`tracks.jsonl` in the folder
this stage writes to, see `track_store`). A frame the store holds takes its ids from there, its instances
matched to the recorded boxes by overlap. Otherwise, when this request's frame follows the frame tracked last
and the Instance Mask stage has seen every frame before it in order, its instances are tracked directly, so
rendering the shot in order (Analyze) fills the store at no extra cost. For any other frame the engine
decodes and runs the Instance Mask stage itself, in a shot state of its own, on every frame from the last
one it analysed (or from `shot_start`) up to this one, and tracks them: the Instance Mask stage carries state
from frame to frame, so only frames seen in order give the boxes a render in order gives. A shot rendered
in any order, on any number of machines, thus gets the ids of a render in order. Without `shot_start`, or
for footage the engine cannot read other frames of (pixels from the client, a still image), frames are
tracked in the order they arrive, starting afresh after any jump.

The artist's corrections apply after tracking and are not recorded: `merge` folds ids into others and
`exclude` leaves people unstyled. Tentative tracks (people seen for fewer than `confirm_frames` frames) get no
id and are left out too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..frame_state import FrameState, ShotState
from ..media import footage_identity
from ..ops.tracking import CentreTracker, KalmanTracker, assign, box_iou, describe_detections
from ..params import Param, ParamError, StageSpec
from ..track_store import TrackStore
from . import instance_mask

STORE_NAME = "tracks.jsonl"
_BELOW_HALF = float(np.nextafter(np.float32(0.5), np.float32(0)))

SPEC = StageSpec(
    name="instance_tracker",
    doc="Keep each instance's identity across the frames of a shot.",
    params=(
        Param("method", "enum", "kalman", "kalman: optimal assignment on box overlap, motion prediction and "
              "colour, lost people kept for their return; centre: IST's nearest box centre in the last frame",
              choices=("kalman", "centre")),
        Param("max_distance", "float", 0.1, "centre method: largest centre movement between frames, as a "
              "fraction of the frame diagonal, that still continues a track", 0.0, 1.0),
        Param("confirm_frames", "int", 2, "kalman: frames in a row a new person is seen before getting an id "
              "(and a style)", 1, 30),
        Param("max_lost", "int", 30, "kalman: frames an unseen person's identity is kept for their return",
              0, 10000),
        Param("shot_start", "int", -1, "the footage frame the shot begins at: ids are worked out in order from "
              "there and recorded, so every frame gets the same ids whatever order it is rendered in; -1: frames "
              "are tracked in the order they arrive, afresh after any jump", -1, 10**7 - 1),
        Param("merge", "str", "", "ids that are one person, as OLD=NEW pairs, e.g. '3=1, 7=2'"),
        Param("exclude", "str", "", "ids to leave unstyled, e.g. '5, 9'"),
        Param("selection", "str", "", "ids whose masks make the selection output, e.g. '1, 4'"),
    ),
    outputs=("mask", "tracks", "selection"),
    requires=("instance_mask",),
)


@dataclass
class Session:
    """One shot's tracking in this engine.

    The tracker's `state` is that after frame `next - 1`. `masks` is the Instance Mask stage's own shot state
    for analysing frames in order (it has seen the frames from `shot_start` to `masks_next - 1`, as a render
    in order would have). `in_step` is the last frame whose request ran the Instance Mask stage exactly as
    such a render in order does (its shot state had seen every frame before it, from `shot_start`).
    """

    key: str
    store: TrackStore
    tracker: KalmanTracker | CentreTracker
    start: int
    state: object = field(init=False)
    next: int = field(init=False)
    masks: ShotState = field(init=False)
    masks_next: int = field(init=False)
    in_step: int | None = None

    def __post_init__(self):
        self.restart()

    def restart(self) -> None:
        """Back to the shot's first frame, with nothing tracked or analysed."""
        self.state, self.next = self.tracker.initial(), self.start
        self.masks, self.masks_next = ShotState(), self.start


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Sets each kept instance's `track_id`; outputs the tracked people's mask, a pass holding each pixel's
    track id (0: none) and the mask of the ids in `selection`."""
    merge = parse_merge(params["merge"])
    exclude, selection = parse_ids(params["exclude"], "exclude"), parse_ids(params["selection"], "selection")
    ids = _identities(state, params, ctx)
    kept = []
    for instance, raw in zip(state.instances, ids):
        instance.track_id = merge.get(int(raw), int(raw))
        if instance.track_id and instance.track_id not in exclude:
            kept.append(instance)
    if len(kept) < len(state.instances):
        state.mask = union([i.mask for i in kept], state.size)
    state.instances = kept
    tracks = np.zeros(state.size, np.float32)
    for instance in kept:  # the masks are disjoint; cv2 paints a mask's pixels >= 0.5 several times faster
        _, painted = cv2.threshold(instance.mask, _BELOW_HALF, float(instance.track_id), cv2.THRESH_BINARY)
        cv2.max(tracks, painted, dst=tracks)
    return {"mask": state.mask, "tracks": tracks,
            "selection": union([i.mask for i in kept if i.track_id in selection], state.size)}


def union(masks: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """float32 HxW in [0, 1]: the sum of float32 HxW masks in [0, 1], clipped."""
    out = np.zeros(size, np.float32)
    for mask in masks:
        cv2.add(out, mask, dst=out)
    return np.minimum(out, 1.0, out=out)


def parse_ids(text: str, name: str) -> set[int]:
    """'5, 9' -> {5, 9}; raises ParamError naming `name` for anything but positive integers."""
    ids = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not part.isdigit() or int(part) == 0:
            raise ParamError(f"instance_tracker.{name}: {part!r} is not a track id; list positive whole numbers "
                             f"separated by commas, e.g. '5, 9'")
        ids.add(int(part))
    return ids


def parse_merge(text: str) -> dict[int, int]:
    """'3=1, 7=2' -> {3: 1, 7: 2}, chains followed to their end ('3=2, 2=1' sends 3 to 1); raises ParamError
    for a malformed pair, an id merged into two others, or a cycle."""
    pairs: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        old, sep, new = (s.strip() for s in part.partition("="))
        if not sep or not old.isdigit() or not new.isdigit() or int(old) == 0 or int(new) == 0:
            raise ParamError(f"instance_tracker.merge: {part!r} is not OLD=NEW with two track ids; write pairs "
                             f"separated by commas, e.g. '3=1, 7=2'")
        old_id, new_id = int(old), int(new)
        if old_id in pairs and pairs[old_id] != new_id:
            raise ParamError(f"instance_tracker.merge: {old_id} is merged into both {pairs[old_id]} and {new_id}; "
                             "keep one of the two")
        if old_id != new_id:
            pairs[old_id] = new_id
    resolved = {}
    for old_id in pairs:
        seen, target = [old_id], pairs[old_id]
        while target in pairs:
            if target in seen:
                raise ParamError(f"instance_tracker.merge: {' -> '.join(map(str, seen + [target]))} goes round in "
                                 "a circle; remove one of those pairs")
            seen.append(target)
            target = pairs[target]
        resolved[old_id] = target
    return resolved


def make_tracker(params: dict) -> KalmanTracker | CentreTracker:
    if params["method"] == "centre":
        return CentreTracker(params["max_distance"])
    return KalmanTracker(confirm=params["confirm_frames"], max_lost=params["max_lost"])


def _identities(state: FrameState, params: dict, ctx) -> np.ndarray:
    """Raw track ids (int64, one per instance, 0 for a tentative track) of this frame."""
    boxes = _boxes(state)
    session = _session(params, ctx)
    index = state.index
    report = state.report.setdefault("instance_tracker", {})
    if session.start < 0 or ctx.footage is None:
        report["mode"] = "arrival order"
        if index != session.next:
            session.state, session.next = session.tracker.initial(), index
        return _track(session, ctx.frame_uint8, boxes, record=False)
    if index < session.start:
        raise ParamError(f"instance_tracker: frame {index} of the footage comes before the shot's first frame "
                         f"(shot_start = {session.start}); set shot_start to the footage frame where the shot begins")
    # The Instance Mask stage carries state from frame to frame (a seek starts it afresh), so its boxes are
    # those of a render in order only if this request's shot state has seen every frame from shot_start.
    if index == session.start:
        in_step = ctx.shot.last_index != index - 1  # the stage started afresh, as at a seek
    else:
        in_step = ctx.shot.last_index == index - 1 and session.in_step == index - 1
    session.in_step = index if in_step else None
    stored = session.store.get(index)
    if stored is not None:
        report["mode"] = "stored"
        return _stored_ids(*stored, boxes)
    if index < session.next:
        session.restart()
    report["mode"], report["analysed_frames"] = "tracked", 0
    if in_step and index == session.next:
        return _track(session, ctx.frame_uint8, boxes)
    analysed_from = session.masks_next
    while session.masks_next < session.next:  # frames tracked from requests in step, not yet analysed
        _analyse(session, ctx)
    while session.next <= index:
        frame, found = _analyse(session, ctx)
        ids = _track(session, frame, found)
    report["analysed_frames"] = session.masks_next - analysed_from
    return _stored_ids(found, ids, boxes)


def _analyse(session: Session, ctx) -> tuple[np.ndarray, np.ndarray]:
    """Run the Instance Mask stage on frame `session.masks_next`, in the session's own shot state: the frame
    (uint8 HxWx3) and its boxes (Nx4)."""
    ctx.check_cancelled()
    other = ctx.for_frame(session.masks_next, session.masks)
    frame_state = FrameState(rgb=other.frame_uint8.astype(np.float32) / 255.0, index=other.index)
    instance_mask.run(frame_state, ctx.pipeline["instance_mask"], other)
    session.masks.last_index = other.index
    session.masks_next += 1
    return other.frame_uint8, _boxes(frame_state)


def _boxes(state: FrameState) -> np.ndarray:
    return np.array([i.box for i in state.instances], np.float64).reshape(-1, 4)


def _track(session: Session, frame: np.ndarray, boxes: np.ndarray, record: bool = True) -> np.ndarray:
    """Step the session's tracker with frame `session.next`, and record it unless the store has it already."""
    session.state, ids = session.tracker.step(session.state, describe_detections(frame, boxes))
    if record and session.store.get(session.next) is None:
        session.store.put(session.next, boxes, ids)
    session.next += 1
    return ids


def _stored_ids(stored_boxes: np.ndarray, stored_ids: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The recorded ids of this frame's boxes, each matched to a recorded box (IoU at least 0.5); 0 for a box
    that matches none."""
    ids = np.zeros(len(boxes), np.int64)
    for r, c in assign(1.0 - box_iou(boxes, stored_boxes), 0.5):
        ids[r] = stored_ids[c]
    return ids


def _session(params: dict, ctx) -> Session:
    """The shot's session, started afresh when the footage or the mask or tracker parameters change."""
    key = _key(params, ctx)
    path = Path(ctx.write_dir) / STORE_NAME if ctx.write_dir and ctx.footage else None
    session = ctx.shot.tracking
    if session is None or session.key != key or session.store.path != path:
        session = ctx.shot.tracking = Session(key, TrackStore(path, key), make_tracker(params), params["shot_start"])
    return session


def _key(params: dict, ctx) -> str:
    """What a shot's tracks depend on: the footage (`media.footage_identity`), the mask stage's parameters and
    the tracking parameters (not the corrections applied after tracking)."""
    footage = footage_identity(ctx.footage) if ctx.footage else None
    used = ("max_distance",) if params["method"] == "centre" else ("confirm_frames", "max_lost")
    tracking = {k: params[k] for k in ("method", "shot_start", *used)}
    text = json.dumps([footage, ctx.pipeline.get("instance_mask"), tracking], sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
