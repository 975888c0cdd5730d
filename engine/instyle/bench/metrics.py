"""Scores of predicted person masks and identities against exact ground truth, frame by frame and per clip.

Pure functions of arrays (numpy, SciPy, OpenCV, py-motmetrics); masks are float HxW in [0, 1], a pixel
belonging to a mask where it is 0.5 or more. A frame's truth is the ids (int, K) and visible masks (KxHxW)
of the people at least 25% visible; its prediction the track ids (int, N; 0: an instance without one, so
unstyled) and masks (NxHxW) of the instances the engine output.

- mask IoU: of the binarised masks; each person is paired one to one with a predicted instance by the
  Hungarian algorithm on mask IoU (largest total), a person without a pair having IoU 0;
- recall at IoU 0.5: the share of person-frames whose pair has IoU >= 0.5 ("found");
- mean mask IoU: the mean over person-frames of their pair's IoU (a missed person counts 0);
- boundary F: DAVIS's contour accuracy with a 2-pixel tolerance: the harmonic mean of the share of the
  predicted outline within 2 px of the true outline and the share of the true outline within 2 px of the
  predicted one (outlines: mask pixels with a pixel outside the mask among their 8 neighbours; the frame's
  edge is no outline), per person-frame against its pair, 0 without one;
- ID switches: py-motmetrics' count of a person's matched track id changing, on styled instances (id > 0)
  matched at mask IoU >= 0.5;
- blinks: person-frames in which a person is visible, was found with a styled mask (pair IoU >= 0.5 and
  track id > 0) in the previous frame of the same shot, and is not found with one in this frame (a mask that
  falls under IoU 0.5 counts);
- dropouts: the blinks in which no styled mask covers the person at all (IoU under 0.1 with every styled
  instance): the person blinks out unstyled, rather than their mask shrinking or slipping;
- false styles: styled instance-frames (track id > 0) covering no visible person (IoU under 0.1 with each): a
  style on a rock, a poster or an empty patch, what a lower detection threshold risks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

FOUND_IOU = 0.5
MASKED_IOU = 0.1
"""A person overlapping a styled instance by less than this has no mask (a dropout)."""
BOUNDARY_TOLERANCE = 2.0


def binary(masks: np.ndarray) -> np.ndarray:
    """bool KxHxW: where float KxHxW masks in [0, 1] are 0.5 or more."""
    return np.asarray(masks) >= 0.5


def mask_iou(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """float64 KxN in [0, 1]: IoU of each of K true masks (KxHxW) with each of N predicted masks (NxHxW),
    binarised at 0.5; 0 where both are empty."""
    t, p = (binary(m).reshape(len(m), int(np.prod(np.shape(m)[1:]))).astype(np.float32) for m in (truth, pred))
    inter = (t @ p.T).astype(np.float64)
    union = t.sum(1)[:, None] + p.sum(1)[None, :] - inter
    return inter / np.maximum(union, 1.0)


def pair(iou: np.ndarray) -> np.ndarray:
    """int64 K: for each row (person) of a KxN IoU matrix, the column (instance) of its one-to-one
    Hungarian pair maximising total IoU; -1 for rows left without one or paired at IoU 0."""
    out = np.full(iou.shape[0], -1, np.int64)
    if iou.size:
        rows, cols = linear_sum_assignment(-iou)
        keep = iou[rows, cols] > 0
        out[rows[keep]] = cols[keep]
    return out


def outline(mask: np.ndarray) -> np.ndarray:
    """bool HxW: the pixels of a bool HxW mask with an 8-neighbour outside it (not counting the frame's edge)."""
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)).astype(bool)


def boundary_f(truth: np.ndarray, pred: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """Boundary F-score in [0, 1] of two bool HxW masks: 1 when both are empty, 0 when only one is."""
    t, p = outline(truth), outline(pred)
    if not t.any() and not p.any():
        return 1.0
    if not t.any() or not p.any():
        return 0.0
    precision = (_distance_to(t)[p] <= tolerance).mean()
    recall = (_distance_to(p)[t] <= tolerance).mean()
    return float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0


def _distance_to(points: np.ndarray) -> np.ndarray:
    """float32 HxW: each pixel's Euclidean distance to the nearest True pixel of a bool HxW array."""
    return cv2.distanceTransform((~points).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


@dataclass
class FrameScore:
    """One frame scored: per true person (K) their id, pair IoU in [0, 1], boundary F in [0, 1] and the track
    id of their pair (0: none or unstyled); per predicted instance (N) its track id; the KxN IoU matrix."""

    truth_ids: np.ndarray
    iou: np.ndarray
    boundary: np.ndarray
    paired_ids: np.ndarray
    pred_ids: np.ndarray
    iou_matrix: np.ndarray

    @property
    def styled(self) -> np.ndarray:
        """bool K: the person is found (pair IoU >= 0.5) with a styled instance (track id > 0)."""
        return (self.iou >= FOUND_IOU) & (self.paired_ids > 0)

    @property
    def masked(self) -> np.ndarray:
        """bool K: some styled instance (track id > 0) overlaps the person by MASKED_IOU or more."""
        styled = self.iou_matrix[:, self.pred_ids > 0]
        return styled.max(axis=1, initial=0.0) >= MASKED_IOU

    @property
    def false_styled(self) -> int:
        """How many styled instances (track id > 0) overlap no visible person by MASKED_IOU."""
        styled = self.iou_matrix[:, self.pred_ids > 0]
        return int(np.count_nonzero(styled.max(axis=0, initial=0.0) < MASKED_IOU))


def score_frame(truth_ids: np.ndarray, truth_masks: np.ndarray, pred_ids: np.ndarray,
                pred_masks: np.ndarray) -> FrameScore:
    """Score a frame: true ids (K) and masks (KxHxW float in [0, 1]) against predicted track ids (N) and masks
    (NxHxW float in [0, 1])."""
    truth_ids, pred_ids = np.asarray(truth_ids, np.int64), np.asarray(pred_ids, np.int64)
    iou = mask_iou(truth_masks, pred_masks)
    pairs = pair(iou)
    k = len(truth_ids)
    per_iou, boundary, paired = np.zeros(k), np.zeros(k), np.zeros(k, np.int64)
    for r, c in enumerate(pairs):
        if c >= 0:
            per_iou[r] = iou[r, c]
            boundary[r] = boundary_f(binary(truth_masks[r]), binary(pred_masks[c]))
            paired[r] = pred_ids[c]
    return FrameScore(truth_ids, per_iou, boundary, paired, pred_ids, iou)


@dataclass
class ClipScore:
    """A clip's scores: `recall`, `mean_iou`, `boundary_f` in [0, 1] over `person_frames` visible
    person-frames (0 when there are none), `switches`, `blinks`, `dropouts` and `false_styles` counts; `blink_at`
    lists (frame, true id) of each blink."""

    person_frames: int
    recall: float
    mean_iou: float
    boundary_f: float
    switches: int
    blinks: int
    dropouts: int = 0
    false_styles: int = 0
    blink_at: list[tuple[int, int]] = field(default_factory=list)


def blinks(frames: list[FrameScore], starts: set[int], dropouts: bool = False) -> list[tuple[int, int]]:
    """(frame, true id) of every blink (or with `dropouts`, every dropout) in consecutive scored frames; `starts`
    holds the frames that begin a shot (a cut), which have none."""
    out = []
    for f in range(1, len(frames)):
        if f in starts:
            continue
        before = set(frames[f - 1].truth_ids[frames[f - 1].styled].tolist())
        now = frames[f]
        kept = now.masked if dropouts else now.styled
        out += [(f, int(i)) for i, still in zip(now.truth_ids, kept) if i in before and not still]
    return out


def id_switches(frames: list[FrameScore]) -> int:
    """py-motmetrics' identity switches: people matched to styled instances (track id > 0) at mask IoU >= 0.5."""
    import motmetrics

    if not frames:
        return 0
    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    for frame in frames:
        styled = frame.pred_ids > 0
        iou = frame.iou_matrix[:, styled]
        accumulator.update(frame.truth_ids.tolist(), frame.pred_ids[styled].tolist(),
                           np.where(iou >= FOUND_IOU, 1.0 - iou, np.nan))
    summary = motmetrics.metrics.create().compute(accumulator, metrics=["num_switches"])
    return int(summary["num_switches"].iloc[0])


def score_clip(frames: list[FrameScore], starts: set[int] = frozenset({0})) -> ClipScore:
    """A clip's scores from its frames' scores, in order; `starts` holds the frames that begin a shot."""
    iou = np.concatenate([f.iou for f in frames]) if frames else np.zeros(0)
    boundary = np.concatenate([f.boundary for f in frames]) if frames else np.zeros(0)
    found = blinks(frames, set(starts))
    return ClipScore(len(iou), _mean(iou >= FOUND_IOU), _mean(iou), _mean(boundary), id_switches(frames),
                     len(found), len(blinks(frames, set(starts), dropouts=True)),
                     sum(f.false_styled for f in frames), found)


def combine(clips: list[ClipScore]) -> ClipScore:
    """Scores over several clips: means weighted by person-frames, counts summed (no blink list)."""
    total = sum(c.person_frames for c in clips)

    def weighted(name: str) -> float:
        return sum(getattr(c, name) * c.person_frames for c in clips) / total if total else 0.0

    return ClipScore(total, weighted("recall"), weighted("mean_iou"), weighted("boundary_f"),
                     sum(c.switches for c in clips), sum(c.blinks for c in clips), sum(c.dropouts for c in clips),
                     sum(c.false_styles for c in clips))


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else 0.0
