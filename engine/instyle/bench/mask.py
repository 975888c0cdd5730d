"""`bench mask`: Instance Mask per quality against the first version ("v1"), in one run.

- speed: milliseconds per 768x576 frame of vtest.avi, frames in order within one shot, timed two frames at
  a time (Faster detects on one of each two); and how far Faster's masks on the frames where it moves the
  boxes on, instead of detecting, are from its masks with detection on every frame;
- accuracy on a labelled set built here ("vtest composites"): pedestrians cut out of vtest.avi by background
  subtraction against the clip's plate (the per-pixel median of every 8th frame: the camera is fixed and
  the light flat, so what differs from the plate is the people; no evaluated method sees the plate), kept
  when a component is one upright, person-sized, isolated blob whose height fits the scene's perspective,
  then pasted with that alpha onto new backgrounds (the plate and five photographs from OpenCV's samples)
  at new places and scales, some overlapping, nearer (lower) people in front. Each person's ground truth
  is its pasted alpha less what nearer people cover, exact by construction. Reported: detection recall (a
  predicted box with IoU >= 0.5 against the person's whole pasted box), mask IoU per person (one-to-one
  matching on mask IoU at 0.5; a missed person counts 0), the same over partly hidden people only;
- on vtest.avi itself: per sampled frame, the detector's people against the masks made, written as JSON,
  and a contact sheet of the masks (artifacts under out/bench/).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from ..frame_state import FrameState, ShotState
from ..modelstore import ModelStore
from ..models.person_matte import frame_matte
from ..models.zoo import ModelZoo
from ..ops import masks as mask_ops
from ..stage_context import StageContext
from ..stages import instance_mask
from ..wire.coco import COCO_CLASSES, PERSON
from .footage import DATA, VTEST

BACKGROUNDS = ("building.jpg", "leuvenA.jpg", "home.jpg", "aero1.jpg", "graf1.png")
SIZE = (576, 768)
OUT = Path(__file__).resolve().parents[3] / "out" / "bench"
METHODS = ("v1", "faster", "better")
SHEET_FRAMES = (36, 130, 260, 534)  # two with overlapping walkers (36, 534), two busy ones


def run(ctx) -> None:
    zoo = ModelZoo(ModelStore(), torch.device(ctx.device))
    frames = read_frames(VTEST, step=1, limit=400 if ctx.quick else None)
    _speed(ctx, zoo, frames)
    _carried_boxes(ctx, zoo, frames[300:310 if ctx.quick else 360])
    scenes = composite_scenes(frames, count=4 if ctx.quick else 40, seed=7, plate_step=32 if ctx.quick else 8)
    ctx.value("labelled people", sum(len(s.truth) for s in scenes), "people", "labelled set (vtest composites)",
              f"{len(scenes)} scenes; {sum(s.hidden.sum() for s in scenes)} partly hidden")
    for method in METHODS:
        _accuracy(ctx, zoo, method, scenes)
    step = 200 if ctx.quick else 10
    _vtest_counts(ctx, zoo, frames[::step], step)
    if not ctx.quick:
        path = OUT / "mask-contact-sheet.jpg"
        cv2.imwrite(str(path), contact_sheet(zoo, frames, SHEET_FRAMES)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
        ctx.artifacts["contact_sheet"] = str(path)


# ------------------------------------------------------------------ the methods


class Method:
    """One way of masking people in a frame, with its shot state: `__call__(frame, index)` returns boxes Nx4
    and masks NxHxW of the people found in an HxWx3 uint8 RGB frame; `report` is the stage's last report.
    `name` is "v1" or a quality; `recipe` replaces the quality's recipe."""

    def __init__(self, zoo: ModelZoo, name: str, recipe: instance_mask.Recipe | None = None):
        self.zoo, self.name, self.shot, self.report = zoo, name, ShotState(), {}
        self.params = instance_mask.SPEC.resolve({} if name == "v1" else {"quality": name})
        self.recipe = recipe or instance_mask.RECIPES.get(name)

    def __call__(self, frame: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self.name == "v1":
            boxes, masks = v1_masks(frame, self.zoo, self.shot, index, self.params)
        else:
            state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index)
            instance_mask.run_recipe(state, self.params, StageContext(self.zoo, self.shot, frame, index), self.recipe)
            boxes = np.array([i.box for i in state.instances], np.float32).reshape(-1, 4)
            masks = np.stack([i.mask for i in state.instances]) if state.instances else np.zeros((0, *frame.shape[:2]))
            self.report = state.report["instance_mask"]
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
        if shot.mask_memory is None:
            shot.mask_memory = zoo.new_matte()
        if index != shot.last_index + 1:
            shot.mask_memory.reset()
        matte = frame_matte(shot.mask_memory, frame)
    boxes = np.array([d.box for d in found], np.float32)
    evidence = np.stack([mask_ops.box_window((h, w), d.box) * (matte if d.class_id == PERSON else 1.0)
                         for d in found])
    owned = mask_ops.assign_ownership(evidence, boxes)
    refined = np.stack([mask_ops.feather(mask_ops.grow(m, params["grow"]), params["feather"]) for m in owned])
    return boxes, mask_ops.assign_ownership(np.clip(refined, 0, 1), boxes)


# ------------------------------------------------------------------ speed


def _speed(ctx, zoo: ModelZoo, frames: list[np.ndarray]) -> None:
    """Each timed call masks two consecutive frames (Faster detects on one of them)."""
    frame = frames[100]
    ctx.time("CenterNet alone: ms per frame", lambda: zoo.detector().detect(frame, 0.35, {PERSON}), repeats=20,
             group="speed", note="one pass, part of every method")
    for name in METHODS:
        method = Method(zoo, name)
        order = iter(range(100, len(frames)))

        def pair():
            for _ in range(2):
                index = next(order)
                method(frames[index], index)

        pairs = ctx.time(f"{name}: ms per 2 frames", pair, repeats=15, warmup=1, group="speed",
                         note="vtest.avi frames in order, one shot")
        figure = ctx.value(f"{name}: ms per 768x576 frame", pairs.median / 2, "ms", "speed")
        if name == "v1":
            base = figure.median
        else:
            ctx.value(f"{name}: time / v1", figure.median / base, "x", "speed")
    seeking, jumps = Method(zoo, "faster"), iter(range(100, len(frames), 3))

    def seek():
        index = next(jumps)
        seeking(frames[index], index)

    ctx.time("faster: ms per frame after a seek", seek, repeats=15, warmup=1, group="speed",
             note="every third frame: each starts a shot, so the detector runs on each")


def _carried_boxes(ctx, zoo: ModelZoo, frames: list[np.ndarray]) -> None:
    """Faster's masks on the frames where it moves the last boxes on, against detecting on those frames too:
    mean mask IoU per instance (one-to-one on mask IoU; an instance only one side has counts 0)."""
    carried = Method(zoo, "faster")
    every = Method(zoo, "faster", replace(instance_mask.RECIPES["faster"], detect_every=1))
    ious = []
    for index, frame in enumerate(frames):
        boxes, masks = carried(frame, index)
        if carried.report["detected"]:
            every(frame, index)
            continue
        other_boxes, other_masks = every(frame, index)
        truth = Scene(frame, other_masks, other_boxes, np.zeros(len(other_boxes), bool))
        _, iou = score(boxes, masks, truth)
        ious.extend(iou.tolist() + [0.0] * max(len(boxes) - len(other_boxes), 0))
    ctx.value("faster: carried-box frames, mask IoU vs detecting", float(np.mean(ious)) if ious else 0.0, "",
              "speed", f"vtest.avi, {len(frames)} frames in order, {len(ious)} instances")


# ------------------------------------------------------------------ labelled set


class Scene:
    """A composite frame (HxWx3 uint8 RGB) with its people: `truth` KxHxW visible alpha, `boxes` Kx4 whole
    pasted boxes, `hidden` K bool (partly covered by a nearer person)."""

    def __init__(self, frame, truth, boxes, hidden):
        self.frame, self.truth, self.boxes, self.hidden = frame, truth, boxes, hidden


def read_frames(path: Path, step: int, limit: int | None = None) -> list[np.ndarray]:
    """Every `step`-th frame of a video (of its first `limit`) as HxWx3 uint8 RGB."""
    capture, frames, index = cv2.VideoCapture(str(path)), [], 0
    while limit is None or index < limit:
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
    candidates = []  # (frame, labels, component, stats row)
    for frame in frames:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(changed_pixels(frame, plate))
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


def changed_pixels(frame: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """uint8 HxW, 1 where an HxWx3 uint8 RGB frame differs from the background plate (CIELAB: half the
    lightness difference or the colour difference above 18), cleaned of specks and small gaps."""
    diff = np.abs(cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float32)
                  - cv2.cvtColor(plate, cv2.COLOR_RGB2LAB).astype(np.float32))
    changed = (np.maximum(0.5 * diff[..., 0], np.hypot(diff[..., 1], diff[..., 2])) > 18).astype(np.uint8)
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return cv2.morphologyEx(changed, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))


def background_plate(frames: list[np.ndarray]) -> np.ndarray:
    """The per-pixel median of frames of a fixed camera: uint8 HxWx3, the scene without its passers-by."""
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


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
    plate = background_plate(frames[::plate_step])
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
    results = [score(*Method(zoo, name)(scene.frame, 0), scene) for scene in scenes]
    found = np.concatenate([f for f, _ in results])
    ious = np.concatenate([iou for _, iou in results])
    hidden = np.concatenate([scene.hidden for scene in scenes])
    group = "labelled set (vtest composites)"
    ctx.value(f"{name}: detection recall", found.mean(), "", group)
    figure = ctx.value(f"{name}: mask IoU per person", ious.mean(), "", group, "missed people count 0")
    ctx.value(f"{name}: mask IoU, partly hidden people", ious[hidden].mean() if hidden.any() else 0.0, "", group)
    if name != "v1":
        base = next(f.median for f in ctx.figures if f.name == "v1: mask IoU per person")
        ctx.value(f"{name}: mask IoU / v1", figure.median / base, "x", group)


# ------------------------------------------------------------------ vtest.avi itself


def _vtest_counts(ctx, zoo: ModelZoo, frames: list[np.ndarray], step: int) -> None:
    """Per sampled frame (each its own shot, so the detector runs): the detector's people, the instances with a
    mask (>= 20 px at 0.5), and the detections dropped because the mattes see no one there."""
    per_frame = {}
    for name in ("faster", "better"):
        method = Method(zoo, name)
        rows = []
        for i, frame in enumerate(frames):
            _, masks = method(frame, 2 * i)
            masked = int(((masks >= 0.5).reshape(len(masks), -1).sum(1) >= 20).sum())
            rows.append((step * i, method.report["boxes"], masked, method.report["unseen"]))
        per_frame[name] = [dict(zip(("frame", "detected", "masked", "dropped"), r)) for r in rows]
        detected, masked, dropped = (np.array(c) for c in list(zip(*rows))[1:])
        group = "vtest.avi people"
        ctx.value(f"{name}: masks / detections", masked.sum() / max(detected.sum(), 1), "", group,
                  f"{len(frames)} frames: {masked.sum()} masks, {detected.sum()} detections, "
                  f"{dropped.sum()} dropped (no one in the mattes)")
        ctx.value(f"{name}: frames where a kept detection has no mask", int((masked < detected - dropped).sum()),
                  "frames", group)
        ctx.value(f"{name}: people per frame", float(np.median(masked)), "median", group,
                  f"range {masked.min()}..{masked.max()}")
    OUT.mkdir(parents=True, exist_ok=True)
    counts = OUT / "mask-vtest-counts.json"
    counts.write_text(json.dumps(per_frame, indent=1))
    ctx.artifacts["vtest_counts"] = str(counts)


def contact_sheet(zoo: ModelZoo, frames: list[np.ndarray], indices: tuple[int, ...]) -> np.ndarray:
    """Better's masks on the given vtest.avi frames (each its own shot), two to a row: uint8 RGB."""
    tiles = []
    for index in indices:
        method = Method(zoo, "better")
        boxes, masks = method(frames[index], 0)
        report = method.report
        tiles.append(overlay(frames[index], boxes, masks, f"vtest.avi frame {index}: {len(masks)} masks; "
                             f"{report['boxes']} detections, {report['unseen']} with no one in the mattes"))
    rows = [np.concatenate(tiles[r:r + 2], axis=1) for r in range(0, len(tiles) - 1, 2)]
    return np.concatenate(rows, axis=0)


def colour(key: int) -> np.ndarray:
    """A bright RGB colour of its own for each whole number `key` (hues spread by the golden ratio): float32 3,
    0 to 255."""
    hue = np.uint8([[[int(180 * ((key * 0.618) % 1.0)), 200, 255]]])
    return cv2.cvtColor(hue, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def overlay(frame: np.ndarray, boxes: np.ndarray, masks: np.ndarray, caption: str, keys=None) -> np.ndarray:
    """The frame darkened, each instance's mask tinted in a colour of its own (of its key in `keys`, e.g. track
    ids; by default its index) and outlined, its box drawn thin: uint8 RGB of the frame's size."""
    out = frame.astype(np.float32) * 0.5
    for k, (box, mask) in enumerate(zip(boxes, masks)):
        colour_k = colour(k if keys is None else int(keys[k]))
        a = 0.7 * mask[..., None]
        out = out * (1 - a) + a * (0.35 * frame + 0.65 * colour_k)
        contours, _ = cv2.findContours((mask >= 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour_k.tolist(), 1)
    out = np.clip(out, 0, 255).astype(np.uint8)
    cv2.putText(out, caption, (10, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out
