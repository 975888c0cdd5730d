"""`bench track`: identities through crossings, this tracker against IST's nearest-centre baseline.

Synthetic shots with exact ground truth: people cut out of vtest.avi frames with their RVM mattes walk
over vtest.avi's empty plaza (the per-pixel median of the clip) on crossing paths, a nearer person hiding a
farther one out of sight for a set number of frames, and crowds of ten. Both trackers see the same
detections: the boxes of the people's visible parts with detector-like jitter and misses ("oracle"), and,
in the full run, the boxes of the engine's own Instance Mask stage on the rendered frames. IDF1, identity
switches and MOTA come from py-motmetrics. On vtest.avi itself, without ground truth, the suite counts ids,
how long they last, and how many start or end in the middle of the frame (identities lost). Timings are
per frame on the busiest frame of a crowd, with the tracks of the frames before it. Last, the engine's own
masks and identities on the labelled hard-case clips (`hard_cases`: masks against exact truth, ID
switches and blinks, per method).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from .footage import VTEST

CAST_FRAMES = (250, 700)
VTEST_FRAMES = 150
VISIBLE = 0.25
"""A person is in the ground truth (and detectable) while at least this share of them is visible."""
HIDDEN = 0.02
"""A person is fully hidden while less than this share of them is visible."""


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
    from ..models.person_matte import frame_matte

    ih, iw = image.shape[:2]
    x1, y1, x2, y2 = box
    side = 1.5 * (y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    cx0, cy0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    cx1, cy1 = int(min(cx + side / 2, iw)), int(min(cy + side / 2, ih))
    scale = height / (cy1 - cy0)
    crop = cv2.resize(image[cy0:cy1, cx0:cx1], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    matte = zoo.new_matte()
    for _ in range(passes):
        alpha = frame_matte(matte, crop, long_side=max(crop.shape[:2]))
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


def cast(zoo, quick: bool) -> list[Sprite]:
    """The people of the synthetic shots: those standing clear of others in a few vtest.avi frames (one frame
    in a quick run)."""
    from ..media import FrameSource

    frames = FrameSource()
    sprites = []
    for index in CAST_FRAMES[:1] if quick else CAST_FRAMES:
        image = frames.frame(str(VTEST), index)
        found = zoo.detector().detect(image, score_threshold=0.5, classes={0})
        sprites += [cut_out(zoo, image, d.box, f"vtest.avi frame {index}")
                    for d in isolated_people(found, image.shape[:2])]
    return sprites


@dataclass(frozen=True)
class Walker:
    """A person crossing the shot at a constant speed: `height` in pixels (taller is nearer the camera, and
    drawn over shorter people), head at `top`, horizontal centre `x0 + speed * frame`; the head moves down
    `rise` pixels a frame (negative: up) and the height changes by `growth` pixels a frame (negative: walking
    away from the camera)."""

    sprite: Sprite
    height: float
    top: float
    x0: float
    speed: float
    rise: float = 0.0
    growth: float = 0.0

    def at(self, frame: int) -> tuple[float, float, float]:
        """(height, top, centre x) in pixels at `frame`."""
        return self.height + self.growth * frame, self.top + self.rise * frame, self.x0 + self.speed * frame


@dataclass(frozen=True)
class Matte:
    """A person's visible alpha in one frame, kept as its bounding crop: float32 hxw in [0, 1] whose top-left
    corner is at (x, y) in the frame."""

    x: int
    y: int
    alpha: np.ndarray

    @staticmethod
    def of(alpha: np.ndarray) -> Matte:
        """The crop of a float32 HxW alpha around its nonzero pixels (an empty crop at (0, 0) if none)."""
        ys, xs = np.nonzero(alpha > 0)
        if not len(ys):
            return Matte(0, 0, np.zeros((0, 0), np.float32))
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        return Matte(int(x0), int(y0), alpha[y0:y1, x0:x1].copy())

    def paint(self, size: tuple[int, int]) -> np.ndarray:
        """float32 HxW of `size` (H, W): the alpha in place, 0 elsewhere."""
        out = np.zeros(size, np.float32)
        _paste(out, self.alpha, self.x, self.y)
        return out


@dataclass
class Shot:
    """Rendered frames with exact ground truth, and detector-like detections derived from it.

    frames: uint8 HxWx3 RGB. truth[f]: (ids int64 K, boxes Kx4) of the people at least VISIBLE visible in
    frame f (id = walker index + 1). visibility: float FxP, each walker's visible share per frame (the share
    of them inside the frame and not behind someone or something). oracle[f]: boxes Nx4 of the visible
    people, jittered, some dropped, largest first. mattes[f]: the visible alpha (`Matte`) of each person of
    truth[f], in its order.
    """

    name: str
    frames: list
    truth: list
    visibility: np.ndarray
    oracle: list
    mattes: list = field(default_factory=list)

    def gaps(self) -> tuple[int, int]:
        """The longest runs of frames in which someone seen before and after is out of sight (under VISIBLE)
        and fully hidden (under HIDDEN)."""
        longest = [0, 0]
        for column in self.visibility.T:
            seen = np.flatnonzero(column >= VISIBLE)
            for k, limit in enumerate((VISIBLE, HIDDEN)):
                current = 0
                for v in column[seen[0]:seen[-1] + 1] if len(seen) else []:
                    current = current + 1 if v < limit else 0
                    longest[k] = max(longest[k], current)
        return longest[0], longest[1]


def render(name: str, background: np.ndarray, walkers: list[Walker], frames: int, seed: int,
           jitter: float = 0.02, miss: float = 0.0, foreground: tuple[np.ndarray, np.ndarray] | None = None) -> Shot:
    """Composite `walkers` over `background` (uint8 HxWx3) for `frames` frames, with ground truth and oracle
    detections: the visible parts' boxes moved by Gaussian noise of `jitter` times the box height per side,
    each dropped with probability `miss`. `foreground` (rgb float32 HxWx3 and alpha float32 HxW, in [0, 1]):
    an object drawn over everyone (a pillar, a sign), hiding what is behind it."""
    rng = np.random.default_rng(seed)
    h, w = background.shape[:2]
    front_rgb, front = foreground if foreground is not None else (0.0, np.zeros((h, w), np.float32))
    sizes: dict = {}
    shot = Shot(name, [], [], np.zeros((frames, len(walkers))), [])
    for f in range(frames):
        canvas = background.astype(np.float32) / 255.0
        covered = np.zeros((h, w), np.float32)
        visible = np.zeros((len(walkers), h, w), np.float32)
        full = np.zeros(len(walkers), np.float32)
        for k in np.argsort([-walker.at(f)[0] for walker in walkers], kind="stable"):
            height, top, centre = walkers[k].at(f)
            if (k, round(height)) not in sizes:
                sizes[k, round(height)] = _scale(walkers[k].sprite, height)
            rgb, alpha = sizes[k, round(height)]
            x, y = int(round(centre - alpha.shape[1] / 2)), int(top)
            placed, colour = np.zeros((h, w), np.float32), np.zeros((h, w, 3), np.float32)
            _paste(placed, alpha, x, y)
            _paste(colour, rgb, x, y)
            visible[k] = placed * (1 - covered)
            canvas = canvas * (1 - visible[k][..., None]) + colour * visible[k][..., None]
            covered = covered + visible[k]
            full[k] = alpha.sum()
        canvas = canvas * (1 - front[..., None]) + front_rgb * front[..., None]
        visible *= 1 - front
        shot.frames.append(np.round(canvas * 255).astype(np.uint8))
        shot.visibility[f] = visible.reshape(len(walkers), -1).sum(axis=1) / full
        ids, boxes, found, mattes = [], [], [], []
        for k in np.argsort(-shot.visibility[f], kind="stable"):
            if shot.visibility[f, k] < VISIBLE:
                continue
            ys, xs = np.nonzero(visible[k] >= 0.5)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
            ids.append(k + 1)
            boxes.append(box)
            mattes.append(Matte.of(visible[k]))
            noisy = box + rng.normal(0, jitter * (box[3] - box[1]), 4)
            if rng.random() >= miss:
                found.append(np.clip(noisy, 0, [w, h, w, h]))
        shot.truth.append((np.array(ids, np.int64), np.array(boxes).reshape(-1, 4)))
        shot.oracle.append(np.array(found).reshape(-1, 4))
        shot.mattes.append(mattes)
    return shot


def _scale(sprite: Sprite, height: float) -> tuple[np.ndarray, np.ndarray]:
    """The sprite (rgb, alpha) resized to `height` pixels."""
    s = height / sprite.alpha.shape[0]
    size = (max(1, round(sprite.alpha.shape[1] * s)), max(1, round(height)))
    return (cv2.resize(sprite.rgb, size, interpolation=cv2.INTER_AREA),
            np.clip(cv2.resize(sprite.alpha, size, interpolation=cv2.INTER_AREA), 0, 1))


def _paste(target: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Write `patch` into `target` with its top-left corner at (x, y), clipped to `target`."""
    h, w = target.shape[:2]
    ph, pw = patch.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
    if x1 > x0 and y1 > y0:
        target[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]


def crossing(name: str, background: np.ndarray, near: Sprite, far: Sprite, gap: int, same_way: bool = False,
             frames: int = 60) -> Shot:
    """`near` (300 px tall) and `far` (110 px tall, farther away, heads level) meet mid-shot, walking towards
    each other or (`same_way`) the near one overtaking, at speeds that keep the far one out of sight (under
    VISIBLE, so undetectable) for `gap` frames."""
    top = 120.0
    near_alpha, far_alpha = _scale(near, 300.0)[1], _scale(far, 110.0)[1]
    reach = near_alpha.shape[1] + far_alpha.shape[1]
    width = sum(_visible_at(near_alpha, far_alpha, dx, 15) < VISIBLE for dx in range(-reach, reach))
    relative = width / gap
    v_near = relative * (2.0 if same_way else 0.65)
    v_far = v_near - relative
    meet, middle = frames / 2, background.shape[1] / 2
    walkers = [Walker(near, 300.0, top, middle - v_near * meet, v_near),
               Walker(far, 110.0, top + 15, middle - v_far * meet, v_far)]
    return render(name, background, walkers, frames, seed=gap)


def _visible_at(near: np.ndarray, far: np.ndarray, dx: int, dy: int) -> float:
    """The share of `far` (alpha) not behind `near` when their centres are `dx` apart and the far one's top is
    `dy` lower."""
    oy, ox = far.shape[0] + abs(dy), far.shape[1] + abs(dx)
    canvas = np.zeros((near.shape[0] + 2 * oy, near.shape[1] + 2 * ox), np.float32)
    canvas[oy:oy + near.shape[0], ox:ox + near.shape[1]] = near
    x = ox + near.shape[1] // 2 + dx - far.shape[1] // 2
    window = canvas[oy + dy:oy + dy + far.shape[0], x:x + far.shape[1]]
    return float((far * (1 - window)).sum() / far.sum())


def crowd(background: np.ndarray, sprites: list[Sprite], people: int, frames: int, seed: int) -> Shot:
    """`people` walkers at random depths (90 to 280 px tall, heads near one line) crossing the frame both
    ways at walking speeds, their paths crossing; detections miss 3% of the time."""
    rng = np.random.default_rng(seed)
    h, w = background.shape[:2]
    walkers = []
    for k in range(people):
        height = rng.uniform(90, 280)
        speed = rng.uniform(0.012, 0.03) * height * rng.choice([-1, 1])
        start = rng.uniform(0.1, 0.9) * w
        walkers.append(Walker(sprites[k % len(sprites)], height, rng.uniform(90, 140), start - speed * frames / 2,
                              speed))
    return render(f"crowd of {people}, take {seed}", background, walkers, frames, seed, miss=0.03)


def trackers() -> dict:
    from ..ops.tracking import CentreTracker, KalmanTracker

    return {"kalman": KalmanTracker(), "centre": CentreTracker()}


def accumulate(shot: Shot, detections: list, tracker):
    """A py-motmetrics accumulator of `tracker` on `shot` given per-frame detection boxes (Nx4); hypotheses
    are the boxes with an id, matched to the truth at IoU 0.5 or more."""
    import motmetrics

    from ..ops.tracking import box_iou, describe_detections

    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    state = tracker.initial()
    for frame, boxes, (truth_ids, truth_boxes) in zip(shot.frames, detections, shot.truth):
        state, ids = tracker.step(state, describe_detections(frame, boxes))
        shown = ids > 0
        iou = box_iou(truth_boxes, boxes[shown])  # motmetrics' own iou_matrix needs numpy < 2
        accumulator.update(truth_ids.tolist(), ids[shown].tolist(), np.where(iou >= 0.5, 1.0 - iou, np.nan))
    return accumulator


METRICS = {"idf1": "IDF1", "num_switches": "identity switches", "mota": "MOTA", "num_fragmentations": "fragmentations"}


def record_mot(ctx, shots: list[Shot], detections: dict, group: str) -> None:
    """Both trackers' MOT metrics on every shot and over all of them, side by side."""
    import motmetrics

    metrics = motmetrics.metrics.create()
    tables = {name: metrics.compute_many([accumulate(shot, detections[shot.name], tracker) for shot in shots],
                                         metrics=list(METRICS), names=[s.name for s in shots], generate_overall=True)
              for name, tracker in trackers().items()}
    for row in tables["kalman"].index:
        for key, title in METRICS.items():
            for name, table in tables.items():
                ctx.value(f"{'all shots' if row == 'OVERALL' else row}: {title}, {name}", table.loc[row, key], "",
                          group=group)


def detector_boxes(zoo, frames: list) -> list[np.ndarray]:
    """The Instance Mask stage's boxes (its defaults, at the faster quality) on consecutive frames of a shot."""
    from ..frame_state import FrameState, ShotState
    from ..stage_context import StageContext
    from ..stages import instance_mask

    params = instance_mask.SPEC.resolve({"quality": "faster"})
    shot, out = ShotState(), []
    for index, frame in enumerate(frames):
        state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index)
        instance_mask.run(state, params, StageContext(zoo, shot, frame, index))
        shot.last_index = index
        out.append(np.array([i.box for i in state.instances], np.float64).reshape(-1, 4))
    return out


def track_statistics(frames: list, detections: list, tracker, margin: int = 20) -> dict[str, float]:
    """Without ground truth: how many ids, how long they last, and how many start or end away from the frame's
    edges after the first frame (a person who was already there, or still is: identity lost)."""
    from ..ops.tracking import describe_detections

    h, w = frames[0].shape[:2]
    state, spans = tracker.initial(), {}
    for f, (frame, boxes) in enumerate(zip(frames, detections)):
        state, ids = tracker.step(state, describe_detections(frame, boxes))
        for i, box in zip(ids.tolist(), boxes):
            if i:
                spans.setdefault(i, []).append((f, box))

    def inside(box) -> bool:
        return box[0] > margin and box[1] > margin and box[2] < w - margin and box[3] < h - margin

    last = len(frames) - 1
    return {"ids": len(spans), "frames per id": float(np.mean([len(s) for s in spans.values()])) if spans else 0.0,
            "ids starting inside the frame": sum(s[0][0] > 0 and inside(s[0][1]) for s in spans.values()),
            "ids ending inside the frame": sum(s[-1][0] < last and inside(s[-1][1]) for s in spans.values())}


def time_tracking(ctx, zoo, shot: Shot) -> None:
    """Milliseconds per frame for each tracker on the shot's busiest frame, given the tracks of the frames
    before: the tracker alone (colour histograms and association), and the whole stage with its passes."""
    from ..frame_state import FrameState, Instance, ShotState
    from ..ops.tracking import describe_detections
    from ..stage_context import StageContext
    from ..stages import instance_tracker

    busiest = int(np.argmax([len(b) for b in shot.oracle]))
    h, w = shot.frames[0].shape[:2]

    def instances(f: int) -> list:
        out = []
        for box in shot.oracle[f]:
            mask = np.zeros((h, w), np.float32)
            mask[int(box[1]):int(np.ceil(box[3])), int(box[0]):int(np.ceil(box[2]))] = 1.0
            out.append(Instance(tuple(box), "person", 1.0, mask))
        return out

    people = f"{len(shot.oracle[busiest])} people, {w}x{h}"
    for name, tracker in trackers().items():
        state = tracker.initial()
        for frame, boxes in zip(shot.frames[:busiest], shot.oracle[:busiest]):
            state, _ = tracker.step(state, describe_detections(frame, boxes))
        frame, boxes = shot.frames[busiest], shot.oracle[busiest]
        ctx.time(f"{name}: tracker", lambda: tracker.step(state, describe_detections(frame, boxes)), repeats=50,
                 group="per frame, CPU", note=people)

        params = instance_tracker.SPEC.resolve({"method": name})
        stage_ctx = StageContext(zoo, ShotState(), frame, 0)
        for f in range(busiest):
            stage_ctx.frame_uint8 = shot.frames[f]
            instance_tracker.run(FrameState(np.zeros((h, w, 3), np.float32), f, instances(f)), params, stage_ctx)
        stage_ctx.frame_uint8, session = frame, stage_ctx.shot.tracking
        before, rgb, busy = session.state, frame.astype(np.float32) / 255.0, instances(busiest)
        everyone = instance_tracker.union([i.mask for i in busy], (h, w))

        def stage():
            session.state, session.next = before, busiest
            instance_tracker.run(FrameState(rgb, busiest, list(busy), everyone), params, stage_ctx)
        ctx.time(f"{name}: whole stage", stage, repeats=30, group="per frame, CPU",
                 note=f"{people}, with the track-id pass")


def run(ctx) -> None:
    import torch

    from ..media import FrameSource
    from ..models.zoo import ModelZoo
    from ..modelstore import ModelStore
    from . import hard_cases

    zoo = ModelZoo(ModelStore(), torch.device(ctx.device))
    background = plaza(30 if ctx.quick else 100)
    sprites = cast(zoo, ctx.quick)
    tone = [cv2.cvtColor(np.round(s.rgb * 255).astype(np.uint8), cv2.COLOR_RGB2HSV)[s.alpha >= 0.5].mean(axis=0)
            for s in sprites]
    by_darkness = sorted(range(len(sprites)), key=lambda k: tone[k][2])
    darkest, second, colourful = by_darkness[0], by_darkness[1], max(range(len(sprites)), key=lambda k: tone[k][1])
    ctx.value("people cut out", len(sprites), "", group="synthetic shots")

    plans = [("cross, 10 frames unseen", colourful, darkest, 10, False)]
    if not ctx.quick:
        plans = [("cross, 3 frames unseen", colourful, darkest, 3, False),
                 ("cross, 6 frames unseen", colourful, darkest, 6, False), *plans,
                 ("cross, look-alikes, 10 frames unseen", second, darkest, 10, False),
                 ("overtake, 10 frames unseen", colourful, darkest, 10, True),
                 ("cross, 24 frames unseen", colourful, darkest, 24, False)]
    shots = [crossing(name, background, sprites[near], sprites[far], gap, same_way)
             for name, near, far, gap, same_way in plans]
    crowds = [crowd(background, sprites, 10, 40 if ctx.quick else 100, seed)
              for seed in range(1, 2 if ctx.quick else 4)]
    shots += crowds
    for shot in shots:
        unseen, hidden = shot.gaps()
        ctx.value(f"{shot.name}: longest unseen", unseen, "frames", group="synthetic shots",
                  note=f"fully hidden for {hidden}")
    record_mot(ctx, shots, {s.name: s.oracle for s in shots}, "synthetic shots, oracle detections")

    time_tracking(ctx, zoo, crowds[0])
    hard_cases.run(ctx, zoo, sprites, background)
    if ctx.quick:
        return

    detected = {s.name: detector_boxes(zoo, s.frames) for s in shots if "10 frames" in s.name}
    record_mot(ctx, [s for s in shots if s.name in detected], detected, "synthetic shots, Instance Mask stage")

    source = FrameSource()
    frames = [source.frame(str(VTEST), i) for i in range(VTEST_FRAMES)]
    boxes = detector_boxes(zoo, frames)
    for name, tracker in trackers().items():
        for key, value in track_statistics(frames, boxes, tracker).items():
            ctx.value(f"{key}, {name}", value, "", group=f"vtest.avi frames 0-{VTEST_FRAMES - 1}, no ground truth")
