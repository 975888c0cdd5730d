"""`bench mask`: Instance Mask per quality against the first version ("v1"), in one run.

- speed: milliseconds per 768x576 frame of vtest.avi, frames in order within one shot;
- accuracy on a labelled set built here ("vtest composites"): pedestrians cut out of vtest.avi by background
  subtraction against the clip's plate (the per-pixel median of every 8th frame: the camera is fixed and
  the light flat, so what differs from the plate is the people; no evaluated method sees the plate), kept
  when a component is one upright, person-sized, isolated blob, then pasted with that alpha onto new
  backgrounds (the plate and five photographs from OpenCV's samples) at new places and scales, some
  overlapping, nearer (lower) people in front. Each person's ground truth is its pasted alpha less what
  nearer people cover, exact by construction. Reported: detection recall (a predicted box with IoU >= 0.5
  against the person's whole pasted box), mask IoU per instance (one-to-one matching on mask IoU; a
  missed person counts 0), the same over partly hidden people only;
- on vtest.avi itself: people with a non-empty mask against the detector's count, per sampled frame, and
  a contact sheet of the masks (an artifact).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from ..frame_state import FrameState, ShotState
from ..modelstore import ModelStore
from ..models.coco import COCO_CLASSES, PERSON
from ..models.zoo import ModelZoo
from ..ops import masks as mask_ops
from ..service import StageContext
from ..stages import instance_mask

DATA = Path("/usr/share/doc/opencv-doc/examples/data")
VTEST = DATA / "vtest.avi"
BACKGROUNDS = ("building.jpg", "leuvenA.jpg", "home.jpg", "aero1.jpg", "graf1.png")
SIZE = (576, 768)
OUT = Path(__file__).resolve().parents[3] / "out" / "bench"
METHODS = ("v1", "faster", "better")


def run(ctx) -> None:
    zoo = ModelZoo(ModelStore(), torch.device(ctx.device))
    frames = read_frames(VTEST, step=1)
    _speed(ctx, zoo, frames)
    scenes = composite_scenes(frames, count=4 if ctx.quick else 40, seed=7, plate_step=32 if ctx.quick else 8)
    ctx.value("labelled people", sum(len(s.truth) for s in scenes), "people", "labelled set",
              f"{len(scenes)} scenes; {sum(s.hidden.sum() for s in scenes)} partly hidden")
    for method in METHODS:
        _accuracy(ctx, zoo, method, scenes)
    _vtest_counts(ctx, zoo, frames[:: 200 if ctx.quick else 10], contact_sheet=not ctx.quick)


# ------------------------------------------------------------------ the methods


class Method:
    """One way of masking people in a frame, with its shot state: `__call__(frame, index)` returns boxes Nx4
    and masks NxHxW of the people found in an HxWx3 uint8 RGB frame."""

    def __init__(self, zoo: ModelZoo, name: str):
        self.zoo, self.name, self.shot = zoo, name, ShotState()
        self.params = instance_mask.SPEC.resolve({} if name == "v1" else {"quality": name})

    def __call__(self, frame: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "v1":
            boxes, masks = v1_masks(frame, self.zoo, self.shot, index, self.params)
        else:
            state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index)
            instance_mask.run(state, self.params, StageContext(self.zoo, self.shot, frame, index))
            boxes = np.array([i.box for i in state.instances], np.float32).reshape(-1, 4)
            masks = np.stack([i.mask for i in state.instances]) if state.instances else np.zeros((0, *frame.shape[:2]))
        self.shot.last_index = index
        return boxes, masks


def v1_masks(frame: np.ndarray, zoo: ModelZoo, shot: ShotState, index: int, params: dict):
    """The first Instance Mask, kept as the baseline: one CenterNet pass; RVM on the whole frame (longest side
    384, state kept while frames follow) times each person's box window grown by 10%; other classes get their
    box; ownership by evidence times closeness to the box centre; grow and feather. Boxes Nx4, masks NxHxW."""
    h, w = frame.shape[:2]
    wanted = {COCO_CLASSES.index(c) for c in params["classes"]}
    found = zoo.detector().detect(frame, score_threshold=params["score_threshold"], classes=wanted)
    found = found[: params["max_instances"]]
    if not found:
        return np.zeros((0, 4), np.float32), np.zeros((0, h, w), np.float32)
    matte = None
    if any(d.class_id == PERSON for d in found):
        if shot.matte_state is None:
            shot.matte_state = zoo.new_matte()
        if index != shot.last_index + 1:
            shot.matte_state.reset()
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0
        with torch.inference_mode():
            matte = shot.matte_state(x, min(1.0, 384.0 / max(h, w)))[0, 0].numpy()
    boxes = np.array([d.box for d in found], np.float32)
    evidence = np.stack([mask_ops.box_window((h, w), d.box) * (matte if d.class_id == PERSON else 1.0)
                         for d in found])
    owned = mask_ops.assign_ownership(evidence, boxes)
    refined = np.stack([mask_ops.feather(mask_ops.grow(m, params["grow"]), params["feather"]) for m in owned])
    return boxes, mask_ops.assign_ownership(np.clip(refined, 0, 1), boxes)


# ------------------------------------------------------------------ speed


def _speed(ctx, zoo: ModelZoo, frames: list[np.ndarray]) -> None:
    for name in METHODS:
        method = Method(zoo, name)
        order = iter(range(100, len(frames)))

        def step():
            index = next(order)
            method(frames[index], index)

        figure = ctx.time(f"{name}: ms per 768x576 frame", step, repeats=20, warmup=2, group="speed",
                          note="vtest.avi frames in order, one shot")
        if name == "v1":
            base = figure.median
        else:
            ctx.value(f"{name}: time / v1", figure.median / base, "x", "speed")


# ------------------------------------------------------------------ labelled set


class Scene:
    """A composite frame (HxWx3 uint8 RGB) with its people: `truth` KxHxW visible alpha, `boxes` Kx4 whole
    pasted boxes, `hidden` K bool (partly covered by a nearer person)."""

    def __init__(self, frame, truth, boxes, hidden):
        self.frame, self.truth, self.boxes, self.hidden = frame, truth, boxes, hidden


def read_frames(path: Path, step: int) -> list[np.ndarray]:
    """Every `step`-th frame of a video as HxWx3 uint8 RGB."""
    capture, frames, index = cv2.VideoCapture(str(path)), [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(np.ascontiguousarray(frame[:, :, ::-1]))
        index += 1
    if not frames:
        raise SystemExit(f"cannot read {path}: install Debian's opencv-doc (build/setup.sh does)")
    return frames


def cutouts(frames: list[np.ndarray], plate: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """People cut out of `frames` (HxWx3 uint8 RGB) against the background `plate`: (rgb hxwx3 uint8,
    alpha hxw float32 in [0, 1]) per isolated, upright blob of difference whose height is within 20% of the
    height the scene's perspective gives a person standing where it stands (fitted to all blobs, robustly;
    this drops two people one behind the other)."""
    lab_plate = cv2.cvtColor(plate, cv2.COLOR_RGB2LAB).astype(np.float32)
    candidates = []  # (frame, labels, component, stats row)
    for frame in frames:
        diff = np.abs(cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float32) - lab_plate)
        changed = (np.maximum(0.5 * diff[..., 0], np.hypot(diff[..., 1], diff[..., 2])) > 18).astype(np.uint8)
        changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        changed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(changed)
        blobs = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= 20]
        for k in blobs:
            x, y, w, h, area = stats[k]
            if not (40 <= h <= 160 and 2.2 <= h / w <= 5.0 and area >= 0.35 * w * h):
                continue
            if x < 3 or y < 3 or x + w > frame.shape[1] - 3 or y + h > frame.shape[0] - 3:
                continue
            if all(_gap(stats[j], stats[k]) >= 8 for j in blobs if j != k):
                candidates.append((frame, labels, k, stats[k]))
    feet = np.array([c[3][1] + c[3][3] for c in candidates], np.float64)
    heights = np.array([c[3][3] for c in candidates], np.float64)
    inliers = np.ones(len(candidates), bool)
    for _ in range(4):
        ratio = heights / np.polyval(np.polyfit(feet[inliers], heights[inliers], 1), feet)
        inliers = np.abs(ratio - 1) < 0.2
    out = []
    for (frame, labels, k, (x, y, w, h, _)), keep in zip(candidates, inliers):
        if not keep:
            continue
        x0, y0, x1, y1 = x - 3, y - 3, x + w + 3, y + h + 3
        blob = (labels[y0:y1, x0:x1] == k).astype(np.uint8)
        filled = blob.copy()
        cv2.floodFill(filled, None, (0, 0), 1)
        blob |= 1 - filled  # holes
        out.append((frame[y0:y1, x0:x1].copy(), cv2.GaussianBlur(blob.astype(np.float32), (0, 0), 0.7)))
    return out


def _gap(a, b) -> float:
    """Pixels between two component boxes (connectedComponentsWithStats rows); 0 if they touch."""
    dx = max(a[0] - (b[0] + b[2]), b[0] - (a[0] + a[2]), 0)
    dy = max(a[1] - (b[1] + b[3]), b[1] - (a[1] + a[3]), 0)
    return float(max(dx, dy))


def backgrounds(plate: np.ndarray) -> list[np.ndarray]:
    """The plate and the sample photographs, each cropped to 4:3 and scaled to 768x576 (uint8 RGB)."""
    out = [plate]
    for name in BACKGROUNDS:
        image = cv2.imread(str(DATA / name))[:, :, ::-1]
        h, w = image.shape[:2]
        cw, ch = min(w, h * 4 // 3), min(h, w * 3 // 4)
        x0, y0 = (w - cw) // 2, (h - ch) // 2
        out.append(cv2.resize(np.ascontiguousarray(image[y0:y0 + ch, x0:x0 + cw]), SIZE[::-1],
                              interpolation=cv2.INTER_AREA))
    return out


def composite_scenes(frames: list[np.ndarray], count: int, seed: int, plate_step: int) -> list[Scene]:
    """`count` labelled scenes from vtest frames (all of them, in order), with a fixed seed."""
    plate = np.median(np.stack(frames[::plate_step]), axis=0).astype(np.uint8)
    people = cutouts(frames[::15], plate)
    grounds = backgrounds(plate)
    rng = np.random.default_rng(seed)
    h, w = SIZE
    scenes = []
    for i in range(count):
        canvas = grounds[i % len(grounds)].astype(np.float32)
        placed = []  # (foot y, rgb, alpha, x0, y0)
        for n in range(int(rng.integers(2, 7))):
            rgb, alpha = people[int(rng.integers(len(people)))]
            scale = float(rng.uniform(0.8, 2.2))
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            alpha = cv2.resize(alpha, rgb.shape[1::-1], interpolation=cv2.INTER_LINEAR)
            if rng.random() < 0.5:
                rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
            ph, pw = alpha.shape
            if placed and rng.random() < 0.5:  # overlap the previous person
                _, _, prev, px, py = placed[-1]
                x0 = px + int(rng.choice([-1, 1]) * rng.uniform(0.25, 0.6) * prev.shape[1])
                y0 = py + prev.shape[0] - ph + int(rng.uniform(-0.15, 0.15) * ph)
            else:
                x0 = int(rng.integers(0, w - pw))
                y0 = int(rng.integers(int(0.3 * h), h - ph + 1)) if h - ph + 1 > 0.3 * h else 0
            x0, y0 = int(np.clip(x0, 0, w - pw)), int(np.clip(y0, 0, h - ph))
            placed.append((y0 + ph, rgb, alpha, x0, y0))
        placed.sort(key=lambda p: p[0])
        full = np.zeros((len(placed), h, w), np.float32)
        boxes = np.zeros((len(placed), 4), np.float32)
        for k, (_, rgb, alpha, x0, y0) in enumerate(placed):
            ph, pw = alpha.shape
            a = alpha[:, :, None]
            canvas[y0:y0 + ph, x0:x0 + pw] = a * rgb + (1 - a) * canvas[y0:y0 + ph, x0:x0 + pw]
            full[k, y0:y0 + ph, x0:x0 + pw] = alpha
            rows, cols = np.flatnonzero(alpha.max(1) >= 0.5), np.flatnonzero(alpha.max(0) >= 0.5)
            boxes[k] = (x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1)
        covered = np.zeros((h, w), np.float32)
        visible = np.zeros_like(full)
        for k in range(len(placed) - 1, -1, -1):
            visible[k] = full[k] * (1 - covered)
            covered = 1 - (1 - covered) * (1 - full[k])
        keep = [k for k in range(len(placed)) if visible[k].sum() >= 0.4 * full[k].sum()
                and (visible[k] >= 0.5).sum() >= 100]
        hidden = np.array([visible[k].sum() < 0.95 * full[k].sum() for k in keep], bool)
        scenes.append(Scene(np.round(canvas).astype(np.uint8), visible[keep], boxes[keep], hidden))
    return scenes


def score(boxes: np.ndarray, masks: np.ndarray, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Per labelled person: found (a predicted box with IoU >= 0.5 against its whole box) and the mask IoU of
    its one-to-one match on mask IoU (0 if unmatched)."""
    k = len(scene.truth)
    if len(boxes) == 0:
        return np.zeros(k, bool), np.zeros(k)
    found = (box_iou(torch.from_numpy(scene.boxes), torch.from_numpy(boxes)).numpy() >= 0.5).any(axis=1)
    truth = (scene.truth >= 0.5).reshape(k, -1).astype(np.float32)
    pred = (masks >= 0.5).reshape(len(masks), -1).astype(np.float32)
    inter = truth @ pred.T
    union = truth.sum(1)[:, None] + pred.sum(1)[None, :] - inter
    iou = inter / np.maximum(union, 1)
    rows, cols = linear_sum_assignment(-iou)
    per = np.zeros(k)
    per[rows] = iou[rows, cols]
    return found, per


def _accuracy(ctx, zoo: ModelZoo, name: str, scenes: list[Scene]) -> None:
    found, ious, hidden = [], [], []
    for i, scene in enumerate(scenes):
        boxes, masks = Method(zoo, name)(scene.frame, 0)
        f, iou = score(boxes, masks, scene)
        found.append(f)
        ious.append(iou)
        hidden.append(scene.hidden)
    found, ious, hidden = np.concatenate(found), np.concatenate(ious), np.concatenate(hidden)
    group = "labelled set (vtest composites)"
    ctx.value(f"{name}: detection recall", found.mean(), "", group)
    ctx.value(f"{name}: mask IoU per person", ious.mean(), "", group, "missed people count 0")
    ctx.value(f"{name}: mask IoU, partly hidden people", ious[hidden].mean() if hidden.any() else 0.0, "", group)


# ------------------------------------------------------------------ vtest.avi itself


def _vtest_counts(ctx, zoo: ModelZoo, frames: list[np.ndarray], contact_sheet: bool) -> None:
    """Per sampled frame (each its own shot): people with a non-empty mask (>= 20 px at 0.5) and detections."""
    sheet = []
    for name in ("faster", "better"):
        method, params = Method(zoo, name), instance_mask.SPEC.resolve({"quality": name})
        recipe = instance_mask.RECIPES[name]
        masked, detected = [], []
        for i, frame in enumerate(frames):
            boxes, masks = method(frame, 2 * i)
            found = zoo.detector(recipe.tile_size).detect(frame, params["score_threshold"], {PERSON})
            detected.append(min(len(found), params["max_instances"]))
            masked.append(int(((masks >= 0.5).reshape(len(masks), -1).sum(1) >= 20).sum()))
            if contact_sheet and name == "better" and i % (len(frames) // 6 or 1) == 0 and len(sheet) < 6:
                sheet.append(overlay(frame, boxes, masks, f"frame {10 * i}: {masked[-1]} masks / {detected[-1]} "
                                     "detections"))
        masked, detected = np.array(masked), np.array(detected)
        group = "vtest.avi people"
        ctx.value(f"{name}: masked / detected", masked.sum() / max(detected.sum(), 1), "", group,
                  f"{len(frames)} frames; {masked.sum()} masks, {detected.sum()} detections")
        ctx.value(f"{name}: frames with a person unmasked", int((masked < detected).sum()), "frames", group)
        ctx.value(f"{name}: people per frame", float(np.median(detected)), "median", group,
                  f"range {detected.min()}..{detected.max()}")
    if sheet:
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / "mask-contact-sheet.jpg"
        rows = [np.concatenate(sheet[r:r + 2], axis=1) for r in range(0, len(sheet) - 1, 2)]
        cv2.imwrite(str(path), np.concatenate(rows, axis=0)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
        ctx.artifacts["contact_sheet"] = str(path)


def overlay(frame: np.ndarray, boxes: np.ndarray, masks: np.ndarray, caption: str) -> np.ndarray:
    """The frame darkened, each instance's mask tinted in its own colour with its box: uint8 RGB, 3/4 size."""
    out = frame.astype(np.float32) * 0.45
    rng = np.random.default_rng(3)
    for box, mask in zip(boxes, masks):
        colour = rng.uniform(80, 255, 3)
        out = out * (1 - 0.75 * mask[..., None]) + 0.75 * mask[..., None] * (0.4 * frame + 0.6 * colour)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour.tolist(), 1)
    out = cv2.resize(np.clip(out, 0, 255).astype(np.uint8), None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    cv2.putText(out, caption, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out
