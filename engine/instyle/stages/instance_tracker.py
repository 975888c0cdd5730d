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

People are not dropped for a frame the detector or the matte is unsure of:
- weak detections (see `instance_mask`) continue the confirmed tracks the confident ones leave unmatched;
- a confirmed person with no detection at all is held for up to `hold` frames where the tracker expects them,
  and recorded there;
- when the store holds the frames on both sides (after Analyze), a person recorded before and after a gap of
  at most `max_lost` frames is placed in it, the boxes interpolated (`track_store.fill_gap`).
Such a held person's mask is the person matte in the held box, less what the detected people own; where the
matte finds no one there (the person left, or is hidden), they are not shown. Only people are held.
At a cut (`ops.cuts`, as the Instance Mask stage sees it) every track ends and the new shot's people get ids at
once.

The artist's corrections apply after tracking and are not recorded: `merge` folds ids into others,
`exclude` leaves people unstyled, `hold_ranges` holds ids through frames they are missed in (from the store),
`added` adds people the models missed, outlined on one frame and carried through the shot (`added_people`),
and `cut` cuts regions out of an id's mask. Tentative tracks (people seen for fewer than `confirm_frames` frames)
get no id and are left out too. The `ids` output shows every kept person in a colour of their own, labelled
with their id.

Added people, cut regions and hold ranges (`wire.corrections.CORRECTIONS`) reach only some frames: `applied`
lists those that reach a frame, with what their effect there depends on, and a frame's result depends on the
corrections only through that list (its digest is `state.corrections`, which tags the frames written). So a
change to them leaves every frame whose list stays the same as it was, and the add-on recomputes only the
others.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..added_people import AddedPerson, Carried, drawn_mask, parse_added
from ..frame_state import FrameState, Instance, ShotState
from ..media import footage_identity, is_sequence, shot_identity
from ..ops import masks as mask_ops
from ..ops.person_mattes import WINDOW, with_frame_matte
from ..ops.id_overlay import id_overlay
from ..ops.tracking import CentreTracker, KalmanTracker, assign, box_iou, describe_detections, held_tracks
from ..track_store import TrackStore
from ..wire.corrections import CORRECTIONS
from ..wire.params import ParamError
from ..wire import stage_specs

SPEC = stage_specs.INSTANCE_TRACKER  # the stage's name, parameters and outputs, shipped to clients

STORE_NAME = "tracks.jsonl"
_BELOW_HALF = float(np.nextafter(np.float32(0.5), np.float32(0)))


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
    added: dict = field(default_factory=dict)  # AddedPerson -> added_people.Carried (None: an empty outline)

    def __post_init__(self):
        self.restart()

    def restart(self) -> None:
        """Back to the shot's first frame, with nothing tracked or analysed."""
        self.state, self.next = self.tracker.initial(), self.start
        self.masks, self.masks_next = ShotState(), self.start


def prepare(params: dict, ctx) -> dict:
    """Before the request's stages run: leave the Instance Mask stage's memory as a render in order leaves it
    after the previous frame, so that this frame's masks do not depend on the order frames are rendered in (a
    farm chunk's first frame, a seek). The session analyses the shot up to the previous frame (the frames it has
    not seen yet, from `shot_start`) and its stage memory is forked into the request's shot state. Returns
    report entries: `replayed_frames`, how many frames the Instance Mask stage ran on for this."""
    if params["shot_start"] < 0 or ctx.footage is None or ctx.index <= params["shot_start"]:
        return {}
    memory = ctx.shot.mask_memory
    if getattr(memory, "index", None) == ctx.index - 1:
        return {}  # in step: the previous request was the previous frame
    session = _session(params, ctx, parse_added(params["added"]))
    replayed = ctx.index - session.masks_next if session.masks_next <= ctx.index else ctx.index - session.start
    if session.masks_next > ctx.index:
        session.restart()
    while session.masks_next < ctx.index:
        if session.masks_next < session.next:  # tracked from requests in step, not yet analysed
            _analyse(session, ctx)
        else:
            _track(session, *_analyse(session, ctx), params["hold"])
    ctx.shot.mask_memory = session.masks.mask_memory.fork() if session.masks.mask_memory is not None else None
    session.in_step = ctx.index - 1
    return {"replayed_frames": replayed}


def run(state: FrameState, params: dict, ctx) -> dict[str, np.ndarray]:
    """Sets each kept instance's `track_id` and `state.corrections`; outputs the tracked people's mask, a pass
    holding each pixel's track id (0: none), the mask of the ids in `selection` and the id overlay
    (`ops.id_overlay`)."""
    merge = parse_merge(params["merge"])
    exclude, selection = parse_ids(params["exclude"], "exclude"), parse_ids(params["selection"], "selection")
    people = parse_added(params["added"])
    session = _session(params, ctx, people)
    ids, held_ids, held_boxes = _identities(state, params, ctx, session)
    kept = []
    for instance, raw in zip(state.instances, ids):
        instance.track_id = merge.get(int(raw), int(raw))
        if instance.track_id and instance.track_id not in exclude:
            kept.append(instance)
    shown = {i.track_id for i in kept}
    held_ids = np.array([merge.get(int(i), int(i)) for i in held_ids], np.int64)
    wanted = np.array([i not in exclude and i not in shown for i in held_ids], bool)
    held = held_instances(ctx, held_boxes[wanted], held_ids[wanted], union([i.mask for i in kept], state.size),
                          state.person_alpha)
    state.report.setdefault("instance_tracker", {})["held"] = len(held)
    kept = with_added(state, ctx, session, people, kept + held, merge, exclude)
    cut_regions(state, params, ctx, session, people, kept, merge)
    reaching = applied(state.index, params, ctx, session, people, merge, exclude)
    state.corrections = digest(reaching)
    if [id(i) for i in kept] != [id(i) for i in state.instances] or reaching or any(i.weak for i in kept):
        state.mask = union([i.mask for i in kept], state.size)
    state.instances = kept
    tracks = np.zeros(state.size, np.float32)
    for instance in kept:  # the masks are disjoint; cv2 paints a mask's pixels >= 0.5 several times faster
        _, painted = cv2.threshold(instance.mask, _BELOW_HALF, float(instance.track_id), cv2.THRESH_BINARY)
        cv2.max(tracks, painted, dst=tracks)
    held_here = {id(i) for i in held}
    overlay = id_overlay(state.size, [(i.track_id, i.mask, i.box, id(i) in held_here) for i in kept])
    return {"mask": state.mask, "tracks": tracks,
            "selection": union([i.mask for i in kept if i.track_id in selection], state.size), "ids": overlay}


TAKE_OVER = 0.4
"""An instance whose box overlaps an added person's by this much (IoU) is that person, and takes their id."""


def with_added(state: FrameState, ctx, session: Session, people: tuple[AddedPerson, ...], kept: list[Instance],
               merge: dict[int, int], exclude: set[int]) -> list[Instance]:
    """`kept` with the people the artist added (`people`, see `added_people`) in this frame: an instance that
    overlaps one (TAKE_OVER) takes their id (and on the drawn frame their drawn mask); otherwise they are added,
    their mask less what the others own."""
    if not people:
        return kept
    out = list(kept)
    matte = _matte(ctx)
    for person in people:
        track_id = merge.get(person.id, person.id)
        if track_id in exclude:
            continue
        carried = _carried(session, person, state.size)
        box = carried.box_at(state.index, ctx.footage_frame, matte) if carried else None
        if box is None:
            continue
        mask = carried.mask_at(state.index, ctx.frame_uint8, matte)
        overlap = box_iou(box, np.array([i.box for i in out]).reshape(-1, 4))[0]
        if len(out) and overlap.max() >= TAKE_OVER:
            instance = out[int(overlap.argmax())]
            instance.track_id = track_id
            if state.index == person.frame:
                instance.mask = mask
            continue
        mask = np.minimum(mask, 1.0 - union([i.mask for i in out], state.size))
        if (mask >= 0.5).any():
            out.append(Instance(tuple(map(float, box)), "person", 0.0, mask, track_id=track_id))
    return out


def _carried(session: Session, person: AddedPerson, size: tuple[int, int]) -> Carried | None:
    """The added person as followed in this session (started on first use, from the later of their `first` and
    the shot's start); None for an outline that covers no pixel of a frame of `size` (height, width)."""
    if person not in session.added:
        shot_start = max(session.start, 0)
        start = max(person.first, shot_start) if person.frame >= shot_start else person.first
        session.added[person] = Carried.start(replace(person, first=start), size)
    return session.added[person]


def _matte(ctx):
    """The person matte of a frame (uint8 HxWx3) in one box (4,): float32 HxW in [0, 1] (`added_people.Matte`)."""
    def matte(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        return ctx.models.crop_matte()(frame, box[None], WINDOW)[0]
    return matte


def cut_regions(state: FrameState, params: dict, ctx, session: Session, people: tuple[AddedPerson, ...],
                kept: list[Instance], merge: dict[int, int]) -> None:
    """Cut the artist's regions (`cut`) out of the masks of the ids they were drawn for, each moved and scaled from
    the id's box on the frame it was drawn on onto its box in this frame; raises ParamError for a region whose id
    is not on its frame."""
    regions = parse_added(params["cut"], "instance_tracker.cut", above=0)
    for k, region in enumerate(regions):
        target = merge.get(region.id, region.id)
        instance = next((i for i in kept if i.track_id == target), None)
        if instance is None:
            continue
        reference = (instance.box if state.index == region.frame
                     else _box_on(region.frame, target, params, ctx, session, people, merge))
        if reference is None:
            raise ParamError(f"instance_tracker.cut[{k}]: id {target} is not seen on footage frame {region.frame}, "
                             "where the region was drawn; draw it on a frame that shows that id")
        drawn = mask_ops.carry_forward(drawn_mask(region, state.size), reference, instance.box)
        instance.mask = instance.mask * (1.0 - drawn)


def _box_on(frame: int, target: int, params: dict, ctx, session: Session, people: tuple[AddedPerson, ...],
            merge: dict[int, int]) -> tuple | None:
    """The box (x1, y1, x2, y2) of id `target` (after `merge`) on footage frame `frame`: the first added person's
    of `people` with that id, where they were followed, else the track store's record, analysing the shot up to
    that frame if it is not there."""
    for person in people:
        if merge.get(person.id, person.id) != target:
            continue
        carried = _carried(session, person, ctx.frame_uint8.shape[:2])
        if carried is not None:
            box = carried.box_at(frame, ctx.footage_frame, _matte(ctx))
            return None if box is None else tuple(box)
    recorded = session.store.get(frame)
    if recorded is None and session.start >= 0 and ctx.footage is not None and frame >= session.start:
        if frame < session.next:
            session.restart()
        _analyse_to(session, ctx, frame, params["hold"])
        recorded = session.store.get(frame)
    if recorded is None:
        return None
    for box, raw in zip(*recorded):
        if raw > 0 and merge.get(int(raw), int(raw)) == target:
            return tuple(box)
    return None


def applied(index: int, params: dict, ctx, session: Session, people: tuple[AddedPerson, ...], merge: dict[int, int],
            exclude: set[int]) -> list:
    """The corrections that reach footage frame `index`, JSON-able, each with what its effect there depends on
    besides the footage and the other parameters, in the order they are applied:
    - ["hold", id, first, last] for each hold range over the frame;
    - ["added", person] for each added person (not excluded) followed to the frame;
    - ["cut", region, box] for each cut region whose id (after `merge`) the frame's record in the track store
      (filled as `run` fills it) or an added person there has: its box is the id's box on the drawn frame that
      the region moves with ("drawn" on that frame, None where there is none).
    A correction left out does not change the frame. Frames tracked in arrival order depend on all of them:
    [["all", added, cut, hold_ranges]]."""
    if session.start < 0 or ctx.footage is None:
        every = [params[name] for name in CORRECTIONS]
        return [["all", *every]] if any(every) else []
    holds = parse_holds(params["hold_ranges"])
    out: list = [["hold", t, first, last] for t, (first, last) in holds.items() if first <= index <= last]
    present = set()
    for person in people:
        track_id = merge.get(person.id, person.id)
        carried = _carried(session, person, ctx.frame_uint8.shape[:2]) if track_id not in exclude else None
        if carried is not None and carried.box_at(index, ctx.footage_frame, _matte(ctx)) is not None:
            out.append(["added", asdict(person)])
            present.add(track_id)
    regions = parse_added(params["cut"], "instance_tracker.cut", above=0)
    recorded = session.store.get_filled(index, params["max_lost"], holds) if regions else None
    if recorded is not None:
        present |= {merge.get(int(i), int(i)) for i in recorded[1] if i > 0}
    for region in regions:
        target = merge.get(region.id, region.id)
        if recorded is None or target in present:  # without a record, any region may reach the frame
            box = "drawn" if index == region.frame else _box_on(region.frame, target, params, ctx, session, people,
                                                               merge)
            out.append(["cut", asdict(region), list(box) if isinstance(box, tuple) else box])
    return out


def digest(corrections: list) -> str:
    """A short hash of `applied`'s list."""
    text = json.dumps(corrections, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def corrections_digest(params: dict, ctx) -> str:
    """The digest of the corrections that reach the context's frame (`applied`), as `run` sets it, without running
    the Instance Mask stage on the frame: the shot is analysed up to it only if cut regions need its record and
    the track store lacks it."""
    people = parse_added(params["added"])
    session = _session(params, ctx, people)
    if params["cut"] and session.start >= 0 and ctx.footage is not None and session.store.get(ctx.index) is None:
        if ctx.index < session.next:
            session.restart()
        _analyse_to(session, ctx, ctx.index, params["hold"])
    return digest(applied(ctx.index, params, ctx, session, people, parse_merge(params["merge"]),
                          parse_ids(params["exclude"], "exclude")))


def held_instances(ctx, boxes: np.ndarray, ids: np.ndarray, taken: np.ndarray,
                   frame_alpha: np.ndarray | None = None) -> list[Instance]:
    """People the detector missed in this frame, at Kx4 `boxes` with track `ids` (int64 K): each masked by the
    person matte in its box less `taken` (float32 HxW in [0, 1], what detected people own), where it sees them
    (`ops.masks.seen_person`), refined as the Instance Mask stage refines; a box where it sees no one is left
    out. The person matte is the selfie network's on crops, combined with `frame_alpha` (float32 HxW, the Instance
    Mask stage's whole-frame matte) where given, as that stage combines them (`ops.person_mattes`)."""
    if len(boxes) == 0:
        return []
    params = ctx.pipeline.get("instance_mask", {})
    evidence = ctx.models.crop_matte()(ctx.frame_uint8, boxes, WINDOW)
    if frame_alpha is not None:
        evidence = with_frame_matte(evidence, boxes, frame_alpha)
    evidence = mask_ops.assign_ownership(evidence * (1.0 - taken), boxes)
    seen = [(k, mask_ops.seen_person(evidence[k], box)) for k, box in enumerate(boxes)]
    keep = [k for k, mask in seen if mask is not None]
    if not keep:
        return []
    masks = np.stack([mask for _, mask in seen if mask is not None])
    masks = mask_ops.refine(masks, params.get("grow", 0), params.get("feather", 0.0))
    masks = np.minimum(masks, 1.0 - taken)
    return [Instance(tuple(map(float, boxes[k])), "person", 0.0, mask, track_id=int(ids[k]))
            for k, mask in zip(keep, masks)]


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


def parse_holds(text: str) -> dict[int, tuple[int, int]]:
    """'7: 10-40, 3: 5-9' -> {7: (10, 40), 3: (5, 9)}; raises ParamError for anything else, or an id held twice."""
    holds: dict[int, tuple[int, int]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        track, sep, span = (s.strip() for s in part.partition(":"))
        first, dash, last = (s.strip() for s in span.partition("-"))
        if not (sep and dash and track.isdigit() and first.isdigit() and last.isdigit()) or int(track) == 0 \
                or int(first) > int(last):
            raise ParamError(f"instance_tracker.hold_ranges: {part!r} is not ID: FIRST-LAST (a track id and footage "
                             "frames, the first not after the last); e.g. '7: 10-40, 3: 5-9'")
        if int(track) in holds:
            raise ParamError(f"instance_tracker.hold_ranges: id {track} is held twice; give it one range")
        holds[int(track)] = (int(first), int(last))
    return holds


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


def _identities(state: FrameState, params: dict, ctx,
                session: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This frame's raw track ids (int64, one per instance, 0 for a tentative track or a weak detection that
    continues no one), and the ids (int64 K) and boxes (Kx4) of the people held where the detector missed them."""
    found = _found(state)
    index = state.index
    report = state.report.setdefault("instance_tracker", {})
    if session.start < 0 or ctx.footage is None:
        report["mode"] = "arrival order"
        if index != session.next:
            session.state, session.next = session.tracker.initial(), index
        ids = _track(session, ctx.frame_uint8, found, params["hold"], record=False)
        return (ids, *_held(session, params["hold"]))
    if index < session.start:
        raise ParamError(f"instance_tracker: frame {index} of the footage comes before the shot's first frame "
                         f"(shot_start = {session.start}); set shot_start to the footage frame where the shot begins")
    # The Instance Mask stage carries state from frame to frame (a seek starts it afresh), so its boxes are
    # those of a render in order only if its memory has seen every frame from shot_start (see `prepare`).
    continued = state.report.get("instance_mask", {}).get("continued", False)
    if index == session.start:
        in_step = not continued  # the stage started afresh, as at a seek
    else:
        in_step = continued and session.in_step == index - 1
    session.in_step = index if in_step else None
    holds = parse_holds(params["hold_ranges"])
    recorded = session.store.get_filled(index, params["max_lost"], holds)
    if recorded is not None:
        report["mode"] = "stored"
        return _recorded_ids(*recorded, found.boxes)
    if index < session.next:
        session.restart()
    report["mode"], report["analysed_frames"] = "tracked", 0
    if in_step and index == session.next:
        _track(session, ctx.frame_uint8, found, params["hold"])
    else:  # this frame too, as a render in order sees it; its own boxes are matched to the record
        report["analysed_frames"] = _analyse_to(session, ctx, index, params["hold"])
    return _recorded_ids(*session.store.get_filled(index, params["max_lost"], holds), found.boxes)


@dataclass(frozen=True)
class Found:
    """One frame's instances as the tracker takes them: boxes float64 Nx4, weak bool N, and whether the Instance
    Mask stage saw the frame start a new shot (`cut`)."""

    boxes: np.ndarray
    weak: np.ndarray
    cut: bool


def _found(state: FrameState) -> Found:
    boxes = np.array([i.box for i in state.instances], np.float64).reshape(-1, 4)
    weak = np.array([i.weak for i in state.instances], bool)
    return Found(boxes, weak, bool(state.report.get("instance_mask", {}).get("new_shot", False)))


def _analyse_to(session: Session, ctx, frame: int, hold: int) -> int:
    """Analyse and track the shot in the session up to `frame` (included), as a render in order would: first the
    frames tracked from requests in step but not yet analysed; returns how many frames were analysed."""
    analysed_from = session.masks_next
    while session.masks_next < session.next:
        _analyse(session, ctx)
    while session.next <= frame:
        _track(session, *_analyse(session, ctx), hold)
    return session.masks_next - analysed_from


def _analyse(session: Session, ctx) -> tuple[np.ndarray, Found]:
    """Run the Instance Mask stage (through the context) on frame `session.masks_next`, in the session's own shot
    state: the frame (uint8 HxWx3) and what it found."""
    ctx.check_cancelled()
    frame, frame_state = ctx.replay("instance_mask", session.masks_next, session.masks)
    session.masks_next += 1
    return frame, _found(frame_state)


def _track(session: Session, frame: np.ndarray, found: Found, hold: int, record: bool = True) -> np.ndarray:
    """Step the session's tracker with frame `session.next`, and record it unless the store has it already: the
    boxes of detections that are confirmed, or tentative and confident, with their ids (0: tentative), and the
    people held (see `_held`)."""
    detections = describe_detections(frame, found.boxes, found.weak, found.cut)
    session.state, ids = session.tracker.step(session.state, detections)
    if record and session.store.get(session.next) is None:
        shown = (ids > 0) | ~found.weak
        held_ids, held_boxes = _held(session, hold)
        session.store.put(session.next, np.concatenate([found.boxes[shown], held_boxes]),
                          np.concatenate([ids[shown], held_ids]))
    session.next += 1
    return ids


def _held(session: Session, hold: int) -> tuple[np.ndarray, np.ndarray]:
    """ids (int64 K) and expected boxes (Kx4) of the confirmed people the tracker's last step did not see, unseen
    for at most `hold` frames (`ops.tracking.held_tracks`); none for the centre method."""
    if not isinstance(session.tracker, KalmanTracker):
        return np.zeros(0, np.int64), np.zeros((0, 4))
    return held_tracks(session.state, hold)


def _recorded_ids(recorded_boxes: np.ndarray, recorded_ids: np.ndarray,
                  boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recorded ids of this frame's boxes, each matched to a recorded box (IoU at least 0.5; 0 for a box that
    matches none), and the recorded ids (> 0) and boxes that no box of this frame matched: people to hold."""
    ids = np.zeros(len(boxes), np.int64)
    pairs = assign(1.0 - box_iou(boxes, recorded_boxes), 0.5)
    for r, c in pairs:
        ids[r] = recorded_ids[c]
    left = np.ones(len(recorded_ids), bool)
    left[[c for _, c in pairs]] = False
    left &= (recorded_ids > 0) & ~np.isin(recorded_ids, ids)
    return ids, recorded_ids[left], recorded_boxes[left]


def _session(params: dict, ctx, people: tuple[AddedPerson, ...]) -> Session:
    """The shot's session, started afresh when the footage or the mask or tracker parameters change; it forgets the
    added people it followed who are not among `people` (outlines since redrawn or removed)."""
    key = _key(params, ctx)
    path = Path(ctx.write_dir) / STORE_NAME if ctx.write_dir and ctx.footage else None
    session = ctx.shot.tracking
    if session is None or session.key != key or session.store.path != path:
        session = ctx.shot.tracking = Session(key, TrackStore(path, key, _frame_identity(ctx)), make_tracker(params),
                                              params["shot_start"])
    session.added = {person: carried for person, carried in session.added.items() if person in people}
    return session


def _frame_identity(ctx) -> Callable[[int], list] | None:
    """For an image sequence, each frame's file as it is now (`media.footage_identity`), which the track store holds
    its records to; None for a video, whose every change is new footage (`_key`)."""
    footage = ctx.footage
    if footage is None or not is_sequence(footage):
        return None
    return lambda frame: list(footage_identity(footage, frame))


def _key(params: dict, ctx) -> str:
    """What a shot's tracks depend on: the footage (`media.shot_identity`), the mask stage's parameters and
    the tracking parameters (not the corrections applied after tracking)."""
    footage = shot_identity(ctx.footage) if ctx.footage else None
    used = ("max_distance",) if params["method"] == "centre" else ("confirm_frames", "max_lost", "hold")
    tracking = {k: params[k] for k in ("method", "shot_start", *used)}
    text = json.dumps([footage, ctx.pipeline.get("instance_mask"), tracking], sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
