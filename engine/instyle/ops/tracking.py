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

MASK_CELL = 8
"""Masks are compared on a grid of MASK_CELL x MASK_CELL pixel cells (sampled at the cell centres)."""

COLOUR_BINS = (8, 4, 4)
"""Hue, saturation and value bins of the appearance histograms."""


@dataclass(frozen=True)
class Detections:
    """One frame's instances as the trackers compare them.

    boxes: float64 Nx4 (x1, y1, x2, y2) in pixels. masks: bool N x gh x gw, the instances' masks on the
    MASK_CELL grid. colours: float32 N x prod(COLOUR_BINS), each a histogram of the instance's HSV colours
    summing to 1 (all 0 for an instance without mask pixels). frame_size: (height, width) in pixels.
    """

    boxes: np.ndarray
    masks: np.ndarray
    colours: np.ndarray
    frame_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.boxes)


def describe_detections(frame: np.ndarray, boxes: np.ndarray, masks: np.ndarray) -> Detections:
    """Coarse masks and colour histograms of a frame's instances.

    frame: uint8 HxWx3 RGB. boxes: Nx4 (x1, y1, x2, y2) pixels. masks: float NxHxW in [0, 1] (instance
    pixels are those >= 0.5).
    """
    h, w = frame.shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    masks = np.asarray(masks).reshape(-1, h, w)
    half = MASK_CELL // 2
    coarse = masks[:, half::MASK_CELL, half::MASK_CELL] >= 0.5
    colours = np.zeros((len(boxes), int(np.prod(COLOUR_BINS))), np.float32)
    for k, box in enumerate(boxes):
        x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
        x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
        if x1 <= x0 or y1 <= y0:
            continue
        inside = (masks[k, y0:y1, x0:x1] >= 0.5).astype(np.uint8)
        if inside.sum() < 0.1 * inside.size:
            inside = None  # a thing the matte hardly sees (a sign, a bag): the colours of its box
        hsv = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], inside, list(COLOUR_BINS), [0, 180, 0, 256, 0, 256]).ravel()
        total = hist.sum()
        if total > 0:
            colours[k] = hist / total
    return Detections(boxes, coarse, colours, (h, w))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` (Nx4) with every box in `b` (Mx4): float64 NxM in [0, 1]."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


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


def kalman_project(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected measurement Tx4 and its covariance Tx4x4 (measurement noise included)."""
    noise = np.einsum("ti,ij->tij", _size_std(mean[:, 2:4], _STD_POSITION) ** 2, np.eye(4))
    return mean @ _H.T, _H @ cov @ _H.T + noise


def kalman_update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tracks corrected by their measured Tx4 boxes."""
    z_mean, s = kalman_project(mean, cov)
    gain = np.linalg.solve(s, _H @ cov).transpose(0, 2, 1)
    innovation = _measurement(boxes) - z_mean
    return mean + np.einsum("tij,tj->ti", gain, innovation), cov - gain @ s @ gain.transpose(0, 2, 1)


def mahalanobis(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of every box (Nx4) from every track's predicted box: float64 TxN."""
    z_mean, s = kalman_project(mean, cov)
    diff = _measurement(boxes)[None, :, :] - z_mean[:, None, :]
    return np.einsum("tni,tni->tn", diff, np.linalg.solve(s, diff.transpose(0, 2, 1)).transpose(0, 2, 1))


def shifted_mask_iou(masks: np.ndarray, shifts: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of each of T bool grid masks moved by its integer (dx, dy) cells in `shifts` (Tx2) with each of N
    bool grid masks `others`: float64 TxN in [0, 1]."""
    t, gh, gw = masks.shape
    moved = np.zeros((t, gh, gw), np.float32)
    for k, (dx, dy) in enumerate(shifts):
        if abs(dx) < gw and abs(dy) < gh:
            moved[k, max(dy, 0):gh + min(dy, 0), max(dx, 0):gw + min(dx, 0)] = \
                masks[k, max(-dy, 0):gh - max(dy, 0), max(-dx, 0):gw - max(dx, 0)]
    a, b = moved.reshape(t, -1), others.reshape(len(others), -1).astype(np.float32)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0).astype(np.float64)


@dataclass(frozen=True)
class KalmanState:
    """Every track of a shot, confirmed, tentative or lost; arrays have one row per track (T rows).

    ids: int64 T (0 while tentative). mean: Tx8 (cx, cy, w, h and their velocities, pixels per frame);
    cov: Tx8x8. hits: int64 T, frames matched in a row. lost: int64 T, frames since the last match.
    colours: float32 TxB appearance histograms (as Detections.colours). masks: bool T x gh x gw, the last
    matched mask; seen: Tx4 the last matched box. next_id: the id the next confirmed track gets.
    frames: frames stepped so far.
    """

    ids: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    hits: np.ndarray
    lost: np.ndarray
    colours: np.ndarray
    masks: np.ndarray
    seen: np.ndarray
    next_id: int = 1
    frames: int = 0

    def take(self, rows: np.ndarray) -> KalmanState:
        return replace(self, ids=self.ids[rows], mean=self.mean[rows], cov=self.cov[rows], hits=self.hits[rows],
                       lost=self.lost[rows], colours=self.colours[rows], masks=self.masks[rows],
                       seen=self.seen[rows])


_RULED_OUT = 1e6


@dataclass(frozen=True)
class KalmanTracker:
    """Tracks by optimal assignment on box and mask overlap, distance from a constant-velocity prediction, and
    colour. A track is born after `confirm` frames in a row (at once on the shot's first frame) and survives
    `max_lost` frames unseen, so a person who reappears within that time gets their identity back.

    Association runs in two rounds: tracks seen in the last frame take the detections first; tracks lost
    for longer then compete for the rest. An unseen person is looked for both where they would be had they
    kept walking (the Kalman prediction, whose uncertainty grows while they are unseen) and where they were
    last seen (had they stopped); pairs farther than `gate` (squared Mahalanobis distance) from both, or
    with colours farther apart than `max_colour`, are ruled out. `weights` weigh (1 - overlap), colour
    distance and motion distance into a cost in [0, 1]; a pair costing more than `max_cost` is no match.
    """

    confirm: int = 3
    max_lost: int = 30
    max_cost: float = 0.75
    max_colour: float = 0.6
    gate: float = float(chi2.ppf(0.99, 4))
    weights: tuple[float, float, float] = (0.5, 0.3, 0.2)

    def initial(self) -> KalmanState:
        return KalmanState(np.zeros(0, np.int64), np.zeros((0, 8)), np.zeros((0, 8, 8)), np.zeros(0, np.int64),
                           np.zeros(0, np.int64), np.zeros((0, int(np.prod(COLOUR_BINS))), np.float32),
                           np.zeros((0, 0, 0), bool), np.zeros((0, 4)))

    def step(self, state: KalmanState, detections: Detections) -> tuple[KalmanState, np.ndarray]:
        """Advance one frame. ids: int64 N, one per detection; 0 where the detection's track is not confirmed."""
        if state.masks.shape[1:] != detections.masks.shape[1:]:
            state = replace(state, masks=np.zeros((len(state.ids), *detections.masks.shape[1:]), bool))
        mean = state.mean.copy()
        mean[state.lost > 0, 6:] = 0.0  # an unseen person keeps their size
        mean, cov = kalman_predict(mean, state.cov)
        state = replace(state, mean=mean, cov=cov)
        track_of = np.full(len(detections), -1, np.int64)
        if len(state.ids) and len(detections):
            cost = self._cost(state, detections)
            for rows in (np.flatnonzero(state.lost == 0), np.flatnonzero(state.lost > 0)):
                free = np.flatnonzero(track_of < 0)
                if not len(rows) or not len(free):
                    continue
                sub = cost[np.ix_(rows, free)]
                for r, c in zip(*linear_sum_assignment(sub)):
                    if sub[r, c] <= self.max_cost:
                        track_of[free[c]] = rows[r]
        return self._advance(state, detections, track_of)

    def _cost(self, state: KalmanState, det: Detections) -> np.ndarray:
        """TxN association cost in [0, 1], or _RULED_OUT."""
        w_overlap, w_colour, w_motion = self.weights
        still = state.mean.copy()
        still[:, :4] = _measurement(state.seen)
        recent = (state.lost == 0)[:, None]
        best = np.full((len(state.ids), len(det)), _RULED_OUT)
        for mean in (state.mean, still):
            boxes = box_iou(_box(mean[:, :4]), det.boxes)
            shifts = np.rint((mean[:, :2] - _measurement(state.seen)[:, :2]) / MASK_CELL).astype(np.int64)
            overlap = (boxes + shifted_mask_iou(state.masks, shifts, det.masks)) / 2
            motion = mahalanobis(mean, state.cov, det.boxes)
            cost = w_overlap * (1 - overlap) + w_motion * np.minimum(motion / self.gate, 1.0)
            allowed = (motion <= self.gate) | (recent & (boxes > 0))
            best = np.where(allowed, np.minimum(best, cost), best)
        colour = colour_distance(state.colours, det.colours)
        return np.where((best < _RULED_OUT) & (colour <= self.max_colour), best + w_colour * colour, _RULED_OUT)

    def _advance(self, state: KalmanState, det: Detections, track_of: np.ndarray) -> tuple[KalmanState, np.ndarray]:
        """Correct matched tracks, age the others, confirm and drop tracks, and start tracks for the rest."""
        matched = np.flatnonzero(track_of >= 0)
        rows = track_of[matched]
        mean, cov = state.mean.copy(), state.cov.copy()
        mean[rows], cov[rows] = kalman_update(state.mean[rows], state.cov[rows], det.boxes[matched])
        hits, lost = np.zeros_like(state.hits), state.lost + 1
        hits[rows], lost[rows] = state.hits[rows] + 1, 0
        colours, masks, seen = state.colours.copy(), state.masks.copy(), state.seen.copy()
        clean = _unoccluded(det.boxes)[matched]
        fresh, new_colours = rows[clean], det.colours[matched[clean]]
        known = colours[fresh].sum(axis=1, keepdims=True) > 0
        colours[fresh] = np.where(known, 0.8 * colours[fresh] + 0.2 * new_colours, new_colours)
        masks[rows], seen[rows] = det.masks[matched], det.boxes[matched]
        ids = state.ids.copy()
        confirmed = (ids == 0) & (hits >= self.confirm)
        ids[confirmed] = state.next_id + np.arange(int(confirmed.sum()))
        out = np.zeros(len(det), np.int64)
        out[matched] = ids[rows]
        keep = np.flatnonzero(np.where(ids > 0, lost <= self.max_lost, lost == 0))
        state = replace(state, ids=ids, mean=mean, cov=cov, hits=hits, lost=lost, colours=colours, masks=masks,
                        seen=seen, next_id=state.next_id + int(confirmed.sum())).take(keep)

        new = np.flatnonzero(track_of < 0)
        born = np.zeros(len(new), np.int64)
        if state.frames == 0 or self.confirm <= 1:
            born = state.next_id + np.arange(len(new))
        out[new] = born
        mean, cov = kalman_initiate(det.boxes[new])
        state = KalmanState(
            ids=np.concatenate([state.ids, born]), mean=np.concatenate([state.mean, mean]),
            cov=np.concatenate([state.cov, cov]), hits=np.concatenate([state.hits, np.ones(len(new), np.int64)]),
            lost=np.concatenate([state.lost, np.zeros(len(new), np.int64)]),
            colours=np.concatenate([state.colours, det.colours[new]]), masks=np.concatenate([state.masks,
                                                                                             det.masks[new]]),
            seen=np.concatenate([state.seen, det.boxes[new]]), next_id=state.next_id + int((born > 0).sum()),
            frames=state.frames + 1)
        return state, out


def _unoccluded(boxes: np.ndarray, limit: float = 0.1) -> np.ndarray:
    """bool N: boxes (Nx4) of which no other box covers more than `limit` of the area (their colours are their own)."""
    n = len(boxes)
    if n < 2:
        return np.ones(n, bool)
    lo = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    hi = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    np.fill_diagonal(inter, 0)
    area = np.maximum(np.prod(boxes[:, 2:] - boxes[:, :2], axis=1), 1e-9)
    return (inter / area[:, None]).max(axis=1) <= limit
