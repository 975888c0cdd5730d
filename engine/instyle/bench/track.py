"""`bench track`: identities through crossings, this tracker against IST's nearest-centre baseline.

Synthetic shots with exact ground truth: people cut out of vtest.avi and messi5.jpg with their RVM mattes walk
over vtest.avi's empty plaza (the per-pixel median of the clip) on crossing paths, a nearer person hiding a
farther one for a set number of frames. Both trackers see the same detections: the ground truth's visible
boxes and masks with detector-like jitter (`oracle`), and, in the full run, the engine's own Instance Mask
stage on the rendered frames (`detector`). IDF1, identity switches and MOTA come from py-motmetrics. On
vtest.avi itself, without ground truth, the suite counts tracks and where they start and end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
VTEST = OPENCV_DATA / "vtest.avi"
MESSI = OPENCV_DATA / "messi5.jpg"
VISIBLE = 0.25
"""A person is in the ground truth (and detectable) while at least this share of them is visible."""
HIDDEN = 0.02
"""A person counts as fully hidden while less than this share of them is visible."""


@dataclass(frozen=True)
class Sprite:
    """A person cut out of a real image: rgb float32 hxwx3 in [0, 1], alpha float32 hxw in [0, 1]."""

    rgb: np.ndarray
    alpha: np.ndarray
    source: str


def plaza(frames: int = 100) -> np.ndarray:
    """vtest.avi without its people: the per-pixel median of `frames` frames spread over the clip, uint8 HxWx3 RGB."""
    capture = cv2.VideoCapture(str(VTEST))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    picked = []
    for index in np.linspace(0, total - 1, frames).astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, bgr = capture.read()
        if ok:
            picked.append(bgr)
    capture.release()
    return cv2.cvtColor(np.median(np.stack(picked), axis=0).astype(np.uint8), cv2.COLOR_BGR2RGB)


def cut_out(zoo, image: np.ndarray, box, source: str, height: int = 320, passes: int = 3) -> Sprite:
    """The person in `box` of `image` (uint8 HxWx3 RGB) with an RVM matte.

    The crop around the box is enlarged to `height` pixels (RVM needs people of some size) and matted
    `passes` times so the recurrent state settles on the still image; the matte is then limited to the
    box and to its largest connected part, which drops neighbours.
    """
    import torch

    ih, iw = image.shape[:2]
    x1, y1, x2, y2 = box
    side = 1.5 * (y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    cx0, cy0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    cx1, cy1 = int(min(cx + side / 2, iw)), int(min(cy + side / 2, ih))
    scale = height / (cy1 - cy0)
    crop = cv2.resize(image[cy0:cy1, cx0:cx1], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    matte = zoo.new_matte()
    x = torch.from_numpy(crop).to(zoo.device).permute(2, 0, 1)[None].float() / 255.0
    for _ in range(passes):
        alpha = matte(x, downsample_ratio=1.0)[0, 0].float().cpu().numpy()
    grown = 0.05 * (x2 - x1)
    bx0, by0 = int((x1 - grown - cx0) * scale), int((y1 - grown - cy0) * scale)
    bx1, by1 = int(np.ceil((x2 + grown - cx0) * scale)), int(np.ceil((y2 + grown - cy0) * scale))
    inside = np.zeros_like(alpha)
    inside[max(by0, 0):by1, max(bx0, 0):bx1] = 1
    alpha = alpha * inside
    count, labels, stats, _ = cv2.connectedComponentsWithStats((alpha >= 0.5).astype(np.uint8))
    if count > 1:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        near = cv2.dilate((labels == largest).astype(np.uint8), np.ones((9, 9), np.uint8))
        alpha = alpha * near
    ys, xs = np.nonzero(alpha >= 0.05)
    r0, r1, c0, c1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return Sprite(crop[r0:r1, c0:c1].astype(np.float32) / 255.0, alpha[r0:r1, c0:c1].astype(np.float32), source)


def isolated_people(detections, frame_size, min_height: float = 60.0) -> list:
    """Detections (best first) of people standing clear of every other detection and of the frame's edges."""
    h, w = frame_size
    boxes = np.array([d.box for d in detections], np.float64).reshape(-1, 4)
    picked = []
    for k, d in enumerate(detections):
        x1, y1, x2, y2 = d.box
        if d.class_id != 0 or y2 - y1 < min_height or x1 < 4 or y1 < 4 or x2 > w - 4 or y2 > h - 4:
            continue
        pad = 0.3 * (x2 - x1)
        others = np.delete(boxes, k, axis=0)
        clear = (others[:, 0] > x2 + pad) | (others[:, 2] < x1 - pad) | (others[:, 1] > y2 + pad) | \
            (others[:, 3] < y1 - pad)
        if clear.all():
            picked.append(d)
    return picked


@dataclass(frozen=True)
class Walker:
    """A person crossing the shot at a constant speed: `height` in pixels (taller is nearer the camera, and
    drawn over shorter people), head at `top`, horizontal centre `x0 + speed * frame`."""

    sprite: Sprite
    height: float
    top: float
    x0: float
    speed: float


@dataclass
class Shot:
    """Rendered frames with exact ground truth, and the detector-like detections derived from it.

    frames: uint8 HxWx3 RGB. truth[f]: (ids, boxes Kx4) of the people at least VISIBLE visible in frame f.
    visibility: float FxP, each walker's visible share per frame. oracle[f]: (boxes Nx4, masks NxHxW float32,
    person index of each detection).
    """

    name: str
    frames: list
    truth: list
    visibility: np.ndarray
    oracle: list

    def hidden_runs(self) -> list[int]:
        """For each walker, the longest run of frames in which they are fully hidden (after first being seen)."""
        runs = []
        for column in self.visibility.T:
            seen = np.flatnonzero(column >= VISIBLE)
            longest = current = 0
            for v in column[seen[0]:seen[-1] + 1] if len(seen) else []:
                current = current + 1 if v < HIDDEN else 0
                longest = max(longest, current)
            runs.append(longest)
        return runs


def render(name: str, background: np.ndarray, walkers: list[Walker], frames: int, seed: int,
           jitter: float = 0.02, miss: float = 0.03) -> Shot:
    """Composite `walkers` over `background` for `frames` frames, with ground truth and oracle detections.

    Oracle boxes are the visible parts' boxes moved by Gaussian noise of `jitter` times the box height per
    side; each detection is dropped with probability `miss`. Detections come largest first, as a detector's
    most confident first.
    """
    rng = np.random.default_rng(seed)
    h, w = background.shape[:2]
    order = np.argsort([walker.height for walker in walkers])[::-1]  # nearest first
    scaled = [_scale(walker) for walker in walkers]
    shot = Shot(name, [], [], np.zeros((frames, len(walkers))), [])
    for f in range(frames):
        canvas = background.astype(np.float32) / 255.0
        alphas = np.zeros((len(walkers), h, w), np.float32)
        for k, walker in enumerate(walkers):
            rgb, alpha = scaled[k]
            x = int(round(walker.x0 + walker.speed * f - alpha.shape[1] / 2))
            _paste(alphas[k], alpha, x, int(walker.top))
        covered = np.zeros((h, w), np.float32)
        visible = np.zeros_like(alphas)
        for k in order:
            visible[k] = alphas[k] * (1 - covered)
            covered = covered + visible[k]
        for k in order[::-1]:
            rgb, alpha = scaled[k]
            x = int(round(walkers[k].x0 + walkers[k].speed * f - alpha.shape[1] / 2))
            layer = np.zeros((h, w, 3), np.float32)
            _paste(layer, rgb, x, int(walkers[k].top))
            canvas = canvas * (1 - alphas[k][..., None]) + layer * alphas[k][..., None]
        full = np.array([alpha.sum() for _, alpha in scaled])
        shot.visibility[f] = visible.reshape(len(walkers), -1).sum(1) / full
        shot.frames.append(np.round(canvas * 255).astype(np.uint8))
        ids, boxes, det_boxes, det_masks, det_person = [], [], [], [], []
        for k in np.argsort(-visible.reshape(len(walkers), -1).sum(1)):
            if shot.visibility[f, k] < VISIBLE:
                continue
            ys, xs = np.nonzero(visible[k] >= 0.5)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
            ids.append(k + 1)
            boxes.append(box)
            if rng.random() < miss:
                continue
            noisy = box + rng.normal(0, jitter * (box[3] - box[1]), 4)
            det_boxes.append(np.clip(noisy, 0, [w, h, w, h]))
            det_masks.append(visible[k])
            det_person.append(k)
        shot.truth.append((np.array(ids, np.int64), np.array(boxes).reshape(-1, 4)))
        shot.oracle.append((np.array(det_boxes).reshape(-1, 4), np.array(det_masks, np.float32).reshape(-1, h, w),
                            np.array(det_person, np.int64)))
    return shot


def _scale(walker: Walker) -> tuple[np.ndarray, np.ndarray]:
    s = walker.height / walker.sprite.alpha.shape[0]
    size = (max(1, round(walker.sprite.alpha.shape[1] * s)), round(walker.height))
    return (cv2.resize(walker.sprite.rgb, size, interpolation=cv2.INTER_AREA),
            np.clip(cv2.resize(walker.sprite.alpha, size, interpolation=cv2.INTER_AREA), 0, 1))


def _paste(target: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Write `patch` into `target` with its top-left corner at (x, y), clipped to `target`."""
    h, w = target.shape[:2]
    ph, pw = patch.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
    if x1 > x0 and y1 > y0:
        target[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]
