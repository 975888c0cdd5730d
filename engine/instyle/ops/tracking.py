"""Identity association between frames: IST's nearest-centre rule, and a tracker that survives crossings.

Both trackers are pure: `step(state, detections) -> (state, ids)` never changes the state it is given, so a
shot's tracking can be replayed, copied or resumed from any frame's state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2

COLOUR_BINS = (8, 4, 4)
"""Hue, saturation and value bins of the appearance histograms."""


@dataclass(frozen=True)
class Detections:
    """One frame's instances as the trackers compare them.

    boxes: float64 Nx4 (x1, y1, x2, y2) in pixels. colours: float32 N x prod(COLOUR_BINS), each a histogram
    of the HSV colours of the box's person (see describe_detections), summing to 1 (all 0 for an empty box).
    frame_size: (height, width) in pixels. weak: bool N, detections that scored under the detector's threshold
    (they only continue confirmed tracks, as ByteTrack's second association). cut: the frame starts a new shot.

    Only boxes and the frame's pixels are used, never the instance masks: the Instance Mask stage carries
    state from frame to frame, so its masks depend on the order frames are computed in, while boxes and
    pixels do not; tracks built from them are the same whatever order a shot is rendered in.
    """

    boxes: np.ndarray
    colours: np.ndarray
    frame_size: tuple[int, int]
    weak: np.ndarray | None = None
    cut: bool = False

    def __post_init__(self):
        if self.weak is None:
            object.__setattr__(self, "weak", np.zeros(len(self.boxes), bool))

    def __len__(self) -> int:
        return len(self.boxes)


def describe_detections(frame: np.ndarray, boxes: np.ndarray, weak: np.ndarray | None = None,
                        cut: bool = False) -> Detections:
    """Colour histograms of the boxes (Nx4, x1, y1, x2, y2 pixels) of an HxWx3 uint8 RGB frame; `weak` (bool N)
    and `cut` are passed on (see Detections).

    A box's colours are taken inside the ellipse inscribed in it, which holds mostly the person and little of
    the background, leaving out what other boxes reaching lower in the frame cover: people standing nearer
    the camera, in front of this one. Where they cover the whole ellipse, the whole ellipse is used.
    """
    h, w = frame.shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    colours = np.zeros((len(boxes), int(np.prod(COLOUR_BINS))), np.float32)
    for k, box in enumerate(boxes):
        x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
        x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
        if x1 <= x0 or y1 <= y0:
            continue
        inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
        centre = (round((box[0] + box[2]) / 2) - x0, round((box[1] + box[3]) / 2) - y0)
        axes = (max(round((box[2] - box[0]) / 2), 1), max(round((box[3] - box[1]) / 2), 1))
        cv2.ellipse(inside, centre, axes, 0, 0, 360, 1, -1)
        visible = inside.copy()
        for other in boxes[boxes[:, 3] > box[3]]:
            visible[max(int(other[1]) - y0, 0):max(int(np.ceil(other[3])) - y0, 0),
                    max(int(other[0]) - x0, 0):max(int(np.ceil(other[2])) - x0, 0)] = 0
        hsv = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], visible if visible.any() else inside, list(COLOUR_BINS),
                            [0, 180, 0, 256, 0, 256]).ravel()
        total = hist.sum()
        if total > 0:
            colours[k] = hist / total
    weak = np.zeros(len(boxes), bool) if weak is None else np.asarray(weak, bool).reshape(-1)
    return Detections(boxes, colours, (h, w), weak, cut)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` (Nx4) with every box in `b` (Mx4): float64 NxM in [0, 1]."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    inter = intersections(a, b)
    union = _areas(a)[:, None] + _areas(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area of the intersection of every box in `a` (Nx4, x1, y1, x2, y2) with every box in `b` (Mx4): NxM, >= 0."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(hi - lo, 0, None), axis=2)


def _areas(boxes: np.ndarray) -> np.ndarray:
    """Area of each box (Nx4, x1, y1, x2, y2), 0 for an empty one: N, >= 0."""
    return np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)


def colour_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bhattacharyya distance (as cv2.HISTCMP_BHATTACHARYYA) between histograms a (NxB) and b (MxB) summing
    to 1: float64 NxM in [0, 1], 0 for identical colours; 1 where either histogram is empty."""
    coefficient = np.sqrt(np.asarray(a, np.float64)) @ np.sqrt(np.asarray(b, np.float64)).T
    return np.sqrt(np.clip(1.0 - coefficient, 0.0, 1.0))


def match_nearest_centres(previous: dict[int, tuple[float, float]], centres: np.ndarray, max_distance: float,
                          next_id: int) -> tuple[list[int], int]:
    """IST's tracker: each box centre takes the id of the nearest unclaimed previous centre.

    previous: id -> (x, y) centre from the last frame. centres: float Nx2 (x, y) in pixels.
    Pairs are claimed greedily from the closest; a centre farther than `max_distance` pixels from
    every free previous centre gets a new id. Returns (ids in the order of `centres`, next free id).
    """
    ids = [0] * len(centres)
    if previous and len(centres):
        old_ids = list(previous)
        old = np.array([previous[i] for i in old_ids], np.float64)
        dist = np.linalg.norm(centres[:, None, :] - old[None, :, :], axis=2)
        for flat in np.argsort(dist, axis=None):
            r, c = divmod(int(flat), len(old_ids))
            if dist[r, c] > max_distance:
                break
            if ids[r] == 0 and old_ids[c] not in ids:
                ids[r] = old_ids[c]
    for r in range(len(ids)):
        if ids[r] == 0:
            ids[r] = next_id
            next_id += 1
    return ids, next_id


@dataclass(frozen=True)
class CentreState:
    """The baseline's state: id -> (x, y) box centre in the last frame, and the next free id."""

    centres: dict
    next_id: int = 1


@dataclass(frozen=True)
class CentreTracker:
    """The baseline: IST's nearest-centre rule from one frame to the next, with no memory of lost people.

    max_distance: the largest centre move that continues a track, as a fraction of the frame diagonal.
    """

    max_distance: float = 0.1

    def initial(self) -> CentreState:
        return CentreState({})

    def step(self, state: CentreState, detections: Detections) -> tuple[CentreState, np.ndarray]:
        """ids: int64 N, one per detection (every detection gets an id)."""
        boxes = detections.boxes
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
        limit = self.max_distance * float(np.hypot(*detections.frame_size))
        ids, next_id = match_nearest_centres(state.centres, centres, limit, state.next_id)
        return CentreState({i: tuple(c) for i, c in zip(ids, centres)}, next_id), np.array(ids, np.int64)


# Constant-velocity Kalman filter over (cx, cy, w, h) with velocities, batched over tracks; noise scales with
# the box size as in BoT-SORT (position 1/20, velocity 1/160 of the box's width or height per frame).
_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)
_STD_POSITION, _STD_VELOCITY = 1 / 20, 1 / 160


def _measurement(boxes: np.ndarray) -> np.ndarray:
    """Nx4 boxes (x1, y1, x2, y2) -> Nx4 (cx, cy, w, h)."""
    return np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], axis=1)


def _box(z: np.ndarray) -> np.ndarray:
    """Nx4 (cx, cy, w, h) -> Nx4 (x1, y1, x2, y2)."""
    half = np.abs(z[:, 2:4]) / 2
    return np.concatenate([z[:, :2] - half, z[:, :2] + half], axis=1)


def _size_std(wh: np.ndarray, weight: float) -> np.ndarray:
    """Tx4 standard deviations (w, h, w, h) * weight for Tx2 sizes."""
    return np.tile(np.abs(wh), 2) * weight


def kalman_initiate(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """State mean Tx8 and covariance Tx8x8 of new tracks at Tx4 boxes, velocity unknown."""
    z = _measurement(boxes)
    std = np.concatenate([_size_std(z[:, 2:], 2 * _STD_POSITION), _size_std(z[:, 2:], 10 * _STD_VELOCITY)], axis=1)
    mean = np.concatenate([z, np.zeros_like(z)], axis=1)
    return mean, np.einsum("ti,ij->tij", std ** 2, np.eye(8))


def kalman_predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead: mean Tx8, covariance Tx8x8."""
    std = np.concatenate([_size_std(mean[:, 2:4], _STD_POSITION), _size_std(mean[:, 2:4], _STD_VELOCITY)], axis=1)
    return mean @ _F.T, _F @ cov @ _F.T + np.einsum("ti,ij->tij", std ** 2, np.eye(8))


def kalman_project(mean: np.ndarray, cov: np.ndarray,
                   noise: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Expected measurement Tx4 and its covariance Tx4x4, with the measurement noise's standard deviation
    times `noise` (a scalar or one factor per track)."""
    scale = np.broadcast_to(np.asarray(noise, np.float64), (len(mean),))[:, None]
    std = _size_std(mean[:, 2:4], _STD_POSITION) * scale
    return mean @ _H.T, _H @ cov @ _H.T + np.einsum("ti,ij->tij", std ** 2, np.eye(4))


def kalman_update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray,
                  noise: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Tracks corrected by their measured Tx4 boxes, trusted less where `noise` (per track) is above 1."""
    z_mean, s = kalman_project(mean, cov, noise)
    gain = np.linalg.solve(s, _H @ cov).transpose(0, 2, 1)
    innovation = _measurement(boxes) - z_mean
    return mean + np.einsum("tij,tj->ti", gain, innovation), cov - gain @ s @ gain.transpose(0, 2, 1)


def in_view(mean: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Tracks' states Tx8 with their boxes (cx, cy, w, h) cut to the frame of `frame_size` (height, width),
    at least a pixel wide and high: what a detector can see of a person partly out of the frame."""
    h, w = frame_size
    box = _box(mean[:, :4])
    lo = np.minimum(np.clip(box[:, :2], 0, [w - 1, h - 1]), box[:, 2:] - 1)
    hi = np.maximum(np.clip(box[:, 2:], 1, [w, h]), lo + 1)
    out = mean.copy()
    out[:, :4] = _measurement(np.concatenate([lo, hi], axis=1))
    return out


def mahalanobis(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of every box (Nx4) from every track's predicted box: float64 TxN."""
    z_mean, s = kalman_project(mean, cov)
    diff = _measurement(boxes)[None, :, :] - z_mean[:, None, :]
    return np.einsum("tni,tni->tn", diff, np.linalg.solve(s, diff.transpose(0, 2, 1)).transpose(0, 2, 1))


@dataclass(frozen=True)
class KalmanState:
    """Every track of a shot, confirmed, tentative or lost; arrays have one row per track (T rows).

    ids: int64 T (0 while tentative). mean: Tx8 (cx, cy, w, h and their velocities, pixels per frame);
    cov: Tx8x8. hits: int64 T, frames matched in a row. lost: int64 T, frames since the last match.
    colours: float32 TxB appearance histograms (as Detections.colours). seen: Tx4 the box (x1, y1, x2, y2)
    where the track was last matched. next_id: the id the next confirmed track gets. frames: frames stepped.
    """

    ids: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    hits: np.ndarray
    lost: np.ndarray
    colours: np.ndarray
    seen: np.ndarray
    next_id: int = 1
    frames: int = 0

    def take(self, rows: np.ndarray) -> KalmanState:
        return replace(self, ids=self.ids[rows], mean=self.mean[rows], cov=self.cov[rows], hits=self.hits[rows],
                       lost=self.lost[rows], colours=self.colours[rows], seen=self.seen[rows])


_RULED_OUT = 1e6
IN_PART = 0.05
"""A box of which more than this share, grown by a tenth, lies under a nearer person's box is seen in part."""
BEHIND = 0.2
"""A new track whose box has more than this share under a nearer person's waits before it is confirmed."""
NESTED, SAME_DEPTH = 0.8, 0.25
"""A new box lying this share inside a followed person's box, standing within this share of the taller's height
of where they stand, is a second box on that person (`same_person`), not confirmed as someone new."""
SHRUNK = 0.75
"""A box narrower or shorter than this share of its track's shows only part of its person."""


@dataclass(frozen=True)
class KalmanTracker:
    """Tracks by optimal assignment on box overlap, distance from a constant-velocity prediction, and colour.

    A track is born (gets an id) after `confirm` frames in a row (at once on the shot's first frame), and not
    while its box is largely behind someone nearer or is a second box on a person followed already
    (`same_person`: detectors box a person twice, the whole and a part); it survives `max_lost` frames unseen, so
    a person who reappears within that time gets their identity back. Confirmed tracks take detections first,
    tentative ones share what is left, so someone coming out from behind another is matched to their lost track
    before a new one can claim them. Confirmed tracks seen in the last frame choose before the lost ones
    (DeepSORT's matching cascade): a person lost for a while does not take the box of one followed frame to
    frame. A confident detection left over after the tentative tracks may still be a lost person come back far
    from where they were expected (`recovery_cost`: near enough for `reach` of their height per frame unseen, as
    tall, their colours within `recover_colour`); they start afresh, still. Weak detections (see Detections) are
    offered last, to the confirmed tracks seen in the last frame and left unmatched: they continue a person
    through a frame the detector is unsure of, start no one, and neither bring a lost person back nor change
    anyone's colours. At a cut every track ends and the new shot's people get ids at once.

    An unseen person is looked for both where they would be had they kept walking (the Kalman prediction,
    whose uncertainty grows while they are unseen) and where they were last seen (had they stopped); pairs
    farther than `gate` (squared Mahalanobis distance) from both are ruled out (a person partly out of the
    frame is expected as much of them as is in it, `in_view`), as are pairs whose colours are farther apart
    than `max_colour`, unless the box is seen in part (its colours are then not all its person's). `weights`
    weigh (1 - box overlap), colour distance and motion distance into a cost in [0, 1]; a pair costing more
    than `max_cost` is no match. A box seen in part, or much smaller than its track's, moves the track little
    and leaves its velocity as it was, so a person walking behind another is expected to come out on the far
    side.
    """

    confirm: int = 2
    max_lost: int = 30
    max_cost: float = 0.7
    max_colour: float = 0.6
    gate: float = float(chi2.ppf(0.99, 4))
    weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
    reach: float = 0.2
    recover_colour: float = 0.35

    def initial(self) -> KalmanState:
        return KalmanState(np.zeros(0, np.int64), np.zeros((0, 8)), np.zeros((0, 8, 8)), np.zeros(0, np.int64),
                           np.zeros(0, np.int64), np.zeros((0, int(np.prod(COLOUR_BINS))), np.float32),
                           np.zeros((0, 4)))

    def step(self, state: KalmanState, detections: Detections) -> tuple[KalmanState, np.ndarray]:
        """Advance one frame. ids: int64 N, one per detection; 0 where the detection's track is not confirmed
        (or where a weak detection continues no confirmed track)."""
        if detections.cut:  # nobody moves across a cut: the tracks end, and the new shot's people get ids at once
            state = replace(self.initial(), next_id=state.next_id)
        mean = state.mean.copy()
        mean[state.lost > 0, 6:] = 0.0  # an unseen person keeps their size
        mean, cov = kalman_predict(mean, state.cov)
        state = replace(state, mean=mean, cov=cov)
        in_part = covered_by_nearer(detections.boxes, margin=0.1) > IN_PART
        track_of = np.full(len(detections), -1, np.int64)
        recovered = np.zeros(len(detections), bool)  # matched by `recovery_cost`, not by motion
        if len(state.ids) and len(detections):
            cost = self._cost(state, detections, in_part)
            confirmed, tentative = np.flatnonzero(state.ids > 0), np.flatnonzero(state.ids == 0)
            followed = confirmed[state.lost[confirmed] == 0]  # seen in the last frame (ByteTrack's tracked tracks)
            missing = confirmed[state.lost[confirmed] > 0]
            recovery = recovery_cost(state, detections, self.reach, self.recover_colour)
            levels = [(rows, False, cost, self.max_cost) for rows in (followed, missing, tentative)]
            levels += [(missing, False, recovery, self.recover_colour), (followed, True, cost, self.max_cost)]
            for rows, weak, matrix, limit in levels:
                rows = rows[~np.isin(rows, track_of)]
                free = np.flatnonzero((track_of < 0) & (detections.weak == weak))
                if not len(rows) or not len(free):
                    continue
                for r, c in assign(matrix[np.ix_(rows, free)], limit):
                    track_of[free[c]] = rows[r]
                    recovered[free[c]] = matrix is recovery
        return self._advance(state, detections, track_of, in_part, recovered)

    def _cost(self, state: KalmanState, det: Detections, in_part: np.ndarray) -> np.ndarray:
        """TxN association cost in [0, 1], or _RULED_OUT."""
        w_overlap, w_colour, w_motion = self.weights
        still = state.mean.copy()
        still[:, :4] = _measurement(state.seen)
        recent = (state.lost == 0)[:, None]
        best = np.full((len(state.ids), len(det)), _RULED_OUT)
        for mean in (in_view(state.mean, det.frame_size), in_view(still, det.frame_size)):
            overlap = box_iou(_box(mean[:, :4]), det.boxes)
            motion = mahalanobis(mean, state.cov, det.boxes)
            cost = w_overlap * (1 - overlap) + w_motion * np.minimum(motion / self.gate, 1.0)
            allowed = (motion <= self.gate) | (recent & (overlap > 0))
            best = np.where(allowed, np.minimum(best, cost), best)
        colour = colour_distance(state.colours, det.colours)
        allowed = (best < _RULED_OUT) & ((colour <= self.max_colour) | in_part[None, :])
        return np.where(allowed, best + w_colour * colour, _RULED_OUT)

    def _advance(self, state: KalmanState, det: Detections, track_of: np.ndarray, in_part: np.ndarray,
                 recovered: np.ndarray) -> tuple[KalmanState, np.ndarray]:
        """Correct matched tracks, age the others, confirm and drop tracks, and start tracks for the rest."""
        matched = np.flatnonzero(track_of >= 0)
        rows = track_of[matched]
        partial = in_part[matched] | (_measurement(det.boxes[matched])[:, 2:] < SHRUNK * state.mean[rows, 2:4]).any(1)
        mean, cov = state.mean.copy(), state.cov.copy()
        mean[rows], cov[rows] = kalman_update(state.mean[rows], state.cov[rows], det.boxes[matched],
                                              np.where(partial, 10.0, 1.0))
        # A person found again in full starts afresh, moving as they did since they were last seen.
        again = (state.lost[rows] > 0) & ~partial
        back, found = rows[again], matched[again]
        mean[back], cov[back] = kalman_initiate(det.boxes[found])
        mean[back, 4:6] = (mean[back, :2] - _measurement(state.seen[back])[:, :2]) / (state.lost[back, None] + 1)
        mean[rows[recovered[matched]], 4:6] = 0.0  # where they went unseen says nothing of how they move now
        hits, lost = np.zeros_like(state.hits), state.lost + 1
        hits[rows], lost[rows] = state.hits[rows] + 1, 0
        colours, seen = state.colours.copy(), state.seen.copy()
        whole = ~in_part[matched] & ~det.weak[matched]
        fresh, new_colours = rows[whole], det.colours[matched[whole]]
        known = colours[fresh].sum(axis=1, keepdims=True) > 0
        colours[fresh] = np.where(known, 0.8 * colours[fresh] + 0.2 * new_colours, new_colours)
        seen[rows] = _box(mean[rows, :4])
        ids = state.ids.copy()
        behind = np.zeros(len(ids), bool)  # hidden in part, or a second box on a person followed already
        behind[rows] = (covered_by_nearer(det.boxes)[matched] > BEHIND) | same_person(det.boxes[matched],
                                                                                      det.boxes[matched[ids[rows] > 0]])
        confirmed = (ids == 0) & (hits >= self.confirm) & ~behind
        ids[confirmed] = state.next_id + np.arange(int(confirmed.sum()))
        out = np.zeros(len(det), np.int64)
        out[matched] = ids[rows]
        keep = np.flatnonzero(np.where(ids > 0, lost <= self.max_lost, lost == 0))
        state = replace(state, ids=ids, mean=mean, cov=cov, hits=hits, lost=lost, colours=colours, seen=seen,
                        next_id=state.next_id + int(confirmed.sum())).take(keep)

        new = np.flatnonzero((track_of < 0) & ~det.weak)
        born = np.zeros(len(new), np.int64)
        if state.frames == 0 or self.confirm <= 1:
            born = state.next_id + np.arange(len(new))
        out[new] = born
        mean, cov = kalman_initiate(det.boxes[new])
        state = KalmanState(
            ids=np.concatenate([state.ids, born]), mean=np.concatenate([state.mean, mean]),
            cov=np.concatenate([state.cov, cov]), hits=np.concatenate([state.hits, np.ones(len(new), np.int64)]),
            lost=np.concatenate([state.lost, np.zeros(len(new), np.int64)]),
            colours=np.concatenate([state.colours, det.colours[new]]),
            seen=np.concatenate([state.seen, det.boxes[new]]), next_id=state.next_id + int((born > 0).sum()),
            frames=state.frames + 1)
        return state, out


def recovery_cost(state: KalmanState, det: Detections, reach: float, max_colour: float) -> np.ndarray:
    """TxN colour distance (as colour_distance) of each track to each detection where the detection could be the
    track's person come back, else _RULED_OUT: its colours within `max_colour`, its box from 2/3 to 3/2 the height
    of the track's last seen box, and its centre within `reach` of that height per frame since (the track's
    `lost` + 1) of that box's centre. While a person walks behind something the detector does not box, the
    part of them that shows shrinks from one side and moves slower than they do, so their track's prediction can
    be far behind where they come out."""
    seen = _measurement(state.seen)
    found = _measurement(det.boxes)
    ratio = found[None, :, 3] / np.maximum(seen[:, None, 3], 1e-9)
    distance = np.linalg.norm(found[None, :, :2] - seen[:, None, :2], axis=2)
    near = distance <= reach * seen[:, None, 3] * (state.lost[:, None] + 1)
    colour = colour_distance(state.colours, det.colours)
    allowed = near & (ratio >= 2 / 3) & (ratio <= 3 / 2) & (colour <= max_colour)
    return np.where(allowed, colour, _RULED_OUT)


def held_tracks(state: KalmanState, hold: int) -> tuple[np.ndarray, np.ndarray]:
    """The confirmed tracks of `state` (after a step) unseen for 1 to `hold` frames: their ids (int64 K) and the
    boxes where they are expected in the frame just stepped (float64 Kx4, x1, y1, x2, y2 pixels)."""
    rows = np.flatnonzero((state.ids > 0) & (state.lost >= 1) & (state.lost <= hold))
    return state.ids[rows], _box(state.mean[rows, :4])


def assign(cost: np.ndarray, limit: float) -> list[tuple[int, int]]:
    """The pairs (row, column) of an optimal one-to-one matching of a RxC `cost` matrix in which a row or a
    column left unpaired costs `limit` / 2, so no pair costs more than `limit`: pairs are never forced on
    rows for want of better ones (as cost_limit in lapjv)."""
    r, c = cost.shape
    never = 2.0 * (limit + 1.0) * (r + c)
    padded = np.zeros((r + c, c + r))
    padded[:r, :c] = np.where(cost <= limit, cost, never)
    padded[:r, c:] = never
    padded[r:, :c] = never
    padded[np.arange(r), c + np.arange(r)] = limit / 2
    padded[r + np.arange(c), np.arange(c)] = limit / 2
    return [(i, j) for i, j in zip(*linear_sum_assignment(padded)) if i < r and j < c and cost[i, j] <= limit]


def same_person(boxes: np.ndarray, others: np.ndarray, nested: float = NESTED, depth: float = SAME_DEPTH) -> np.ndarray:
    """bool N: whether each box (Nx4) is another box on the person of one of `others` (Mx4) but itself: the
    smaller of the two lies at least `nested` inside the larger, and their bottoms (where the person stands, as
    far from the camera) are at most `depth` of the taller box's height apart. A person passing in front of or
    behind another stands nearer or farther; two boxes one in the other on the same spot are one person."""
    inter = intersections(boxes, others)
    smaller = np.maximum(np.minimum(_areas(boxes)[:, None], _areas(others)[None, :]), 1e-9)
    taller = np.maximum(boxes[:, None, 3] - boxes[:, None, 1], others[None, :, 3] - others[None, :, 1])
    same = np.abs(boxes[:, None, 3] - others[None, :, 3]) <= depth * taller
    identical = np.all(boxes[:, None, :] == others[None, :, :], axis=2)
    return ((inter / smaller >= nested) & same & ~identical).any(axis=1)


def covered_by_nearer(boxes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """float64 N in [0, 1]: the largest share of each box (Nx4) covered by a single box reaching lower in the
    frame, whose person stands nearer the camera, in front; each box first grown by `margin` of its width
    and height on every side (so boxes that touch count)."""
    size = boxes[:, 2:] - boxes[:, :2]
    grown = np.concatenate([boxes[:, :2] - margin * size, boxes[:, 2:] + margin * size], axis=1)
    inter = intersections(grown, boxes)
    nearer = boxes[None, :, 3] > boxes[:, None, 3]
    area = np.maximum(np.prod(size, axis=1), 1e-9)
    return (np.where(nearer, inter, 0.0) / area[:, None]).max(axis=1, initial=0.0)
