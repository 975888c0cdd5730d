"""`bench style`: the Neural Style stage's methods, crops against whole frames, and temporal stabilisation, in
one run on real footage (vtest.avi, 768x576).

- methods: ms per frame of the stage (temporal stabilisation off) on a vtest frame with its real people
  (Instance Mask and Instance Tracker at their defaults), per method: fast (the 26-style network), arbitrary
  (Magenta, onnxruntime), adain (when its weights were fetched), optimise (Gatys with the masked loss; ms per
  iteration, and per frame at the stage's default iteration count); and one key frame's statistics;
- coverage: crops against whole-frame stylization, with the fast network, for people-shaped instances whose
  boxes cover 5 to 40% of vtest's frames (ellipse masks in them, 79% of each box), with one style for all and
  with a style per instance; ms per frame over runs of KEY_INTERVAL frames in order, on frames no earlier
  timing read, so that each run pays for the crops' key-frame statistics (one whole-frame pass per style every
  key_statistics.KEY_INTERVAL frames) as a render in order does (the quick run's 4-frame runs pay for none);
- temporal: warping error (ops.temporal.warping_error over the stylized people, DIS medium flow) of
  consecutive output frames, with and without temporal stabilisation, on a clip of vtest, with the stage's
  time per frame in both (in order, as a render asks for frames); and a frame pair
  (out/bench/temporal-pair.jpg: the same two frames without and with it) to look at for smearing.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import torch

from ..frame_state import FrameState, Instance, ShotState
from ..media import FrameSource
from ..models.fast_style import style_vector
from ..modelstore import ModelStore, WeightsError
from ..models.zoo import ModelZoo
from ..ops.temporal import warping_error
from ..service import Service
from ..stage_context import StageContext
from ..stages import STAGES
from ..stylize.key_statistics import KEY_INTERVAL, layer_statistics
from ..wire.requests import FileSource, parse_run
from .footage import DATA, VTEST

STYLE_IMAGE = DATA / "starry_night.jpg"
OUT = Path(__file__).resolve().parents[3] / "out" / "bench"
FRAME = 300
FRAMES = FrameSource()
CLIP = range(100, 130)
QUICK_CLIP = range(100, 104)


def run(ctx) -> None:
    for path in (VTEST, STYLE_IMAGE):
        if not path.is_file():
            raise SystemExit(f"cannot read {path}: install Debian's opencv-doc (build/setup.sh does)")
    zoo = ModelZoo(ModelStore(), torch.device(ctx.device))
    frame = FRAMES.frame(str(VTEST), FRAME)
    _methods(ctx, zoo, frame)
    _coverage(ctx, ModelZoo(ModelStore(), torch.device(ctx.device)))  # keeps no key frames of the methods'
    _temporal(ctx)


def _context(zoo: ModelZoo, frame: np.ndarray, index: int) -> StageContext:
    """A stage context for frame `index` of vtest, read from the file as the add-on's requests have it read."""
    return StageContext(zoo, ShotState(), frame, index, source=FileSource(str(VTEST), index),
                        frames=FRAMES)


def _masked_state(zoo: ModelZoo, frame: np.ndarray) -> FrameState:
    state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=FRAME)
    ctx = _context(zoo, frame, FRAME)
    for name in ("instance_mask", "instance_tracker"):
        STAGES[name].run(state, STAGES[name].SPEC.resolve({}), ctx)
    return state


def _stage_call(zoo: ModelZoo, base: FrameState, frame: np.ndarray, params: dict):
    """The stage on `base` (its instances copied afresh each call); temporal stabilisation off."""
    spec = STAGES["neural_style"].SPEC.resolve({"temporal": 0.0, **params})

    def call():
        state = FrameState(rgb=base.rgb, index=base.index, mask=base.mask,
                           instances=None if base.instances is None else [
                               Instance(i.box, i.class_name, i.score, i.mask, i.track_id) for i in base.instances])
        STAGES["neural_style"].run(state, spec, _context(zoo, frame, base.index))
        return state
    return call


def _methods(ctx, zoo: ModelZoo, frame: np.ndarray) -> None:
    base = _masked_state(zoo, frame)
    people = len(base.instances)
    image = {"style_image": str(STYLE_IMAGE), "assign": "single"}
    ctx.time("fast, a style per track", _stage_call(zoo, base, frame, {}), repeats=7, group="methods",
             note=f"{people} people, crops; key-frame statistics measured once and kept, as in a render")
    net, style = zoo.fast_style(), style_vector(STAGES["neural_style"].SPEC.by_name["style"].default)
    ctx.time("fast, one key frame's statistics", lambda: layer_statistics(net, base.rgb, style), repeats=5,
             group="methods", note=f"whole frame; crops need one per style every {KEY_INTERVAL} frames")
    ctx.time("fast, whole frame (no masks)", _stage_call(zoo, FrameState(base.rgb, FRAME), frame, {}), repeats=5,
             group="methods")
    ctx.time("fast, whole frame, working resolution 640", _stage_call(
        zoo, FrameState(base.rgb, FRAME), frame, {"resolution": 640}), repeats=5, group="methods")
    ctx.time("arbitrary (any style image)", _stage_call(zoo, base, frame, {"method": "arbitrary", **image}),
             repeats=5, group="methods", note=f"{people} people")
    try:
        zoo.adain()
        ctx.time("adain (any style image)", _stage_call(zoo, base, frame, {"method": "adain", **image}),
                 repeats=5, group="methods", note=f"{people} people")
    except WeightsError as exc:
        ctx.value("adain (any style image)", float("nan"), "ms", group="methods", note=f"not run: {exc}")
    iterations = 2 if ctx.quick else 10
    per_frame = ctx.time(f"optimise, {iterations} iterations", _stage_call(
        zoo, base, frame, {"method": "optimise", "iterations": iterations, **image}), repeats=3,
        group="methods", note=f"{people} people, HED VGG16 features")
    default = STAGES["neural_style"].SPEC.by_name["iterations"].default
    ctx.value(f"optimise, {default} iterations (default), extrapolated", per_frame.median / iterations * default,
              "ms", group="methods", note="per-iteration time x the default count")


def _people_boxes(coverage: float, h: int, w: int, count: int, seed: int) -> list[tuple[float, float, float, float]]:
    """`count` person-shaped (1 : 2.5) boxes, not overlapping, covering `coverage` of an h x w frame together."""
    rng = np.random.default_rng(seed)
    bw = float(np.sqrt(coverage * h * w / count / 2.5))
    bh = 2.5 * bw
    boxes: list[tuple[float, float, float, float]] = []
    while len(boxes) < count:
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        box = (x, y, x + bw, y + bh)
        if all(box[2] < b[0] or b[2] < box[0] or box[3] < b[1] or b[3] < box[1] for b in boxes):
            boxes.append(box)
    return boxes


def _coverage(ctx, zoo: ModelZoo) -> None:
    h, w = FRAMES.frame(str(VTEST), 0).shape[:2]
    run = 4 if ctx.quick else KEY_INTERVAL  # a full run pays for exactly one new key frame per style
    blocks = itertools.count(KEY_INTERVAL, 3 * KEY_INTERVAL)  # frames, and key frames, no earlier timing read
    for coverage in (0.05, 0.2) if ctx.quick else (0.05, 0.1, 0.2, 0.4):
        instances = []
        for k, (x0, y0, x1, y1) in enumerate(_people_boxes(coverage, h, w, 4, seed=int(coverage * 100))):
            mask = np.zeros((h, w), np.float32)
            cv2.ellipse(mask, (round((x0 + x1) / 2), round((y0 + y1) / 2)), (round((x1 - x0) / 2), round((y1 - y0) / 2)),
                        0, 0, 360, 1.0, -1)
            instances.append(Instance((x0, y0, x1, y1), "person", 1.0, mask, k + 1))
        union = np.max([i.mask for i in instances], axis=0)
        covered = f"4 people, masks cover {union.mean():.1%}"
        for assign, label in (("single", "one style"), ("track", "4 styles")):
            timed, share, block = {}, [], next(blocks)
            for region in ("crops", "frame"):
                starts = itertools.count(block, run)  # each call renders the next run of frames

                def call(region=region, starts=starts):
                    start = next(starts)
                    for index in range(start, start + run):
                        frame = FRAMES.frame(str(VTEST), index)
                        base = FrameState(frame.astype(np.float32) / 255.0, index, instances=instances, mask=union)
                        report = _stage_call(zoo, base, frame, {"assign": assign, "region": region})().report
                        share.append(report["neural_style"]["crop_share"])
                timed[region] = ctx.time(f"{coverage:.0%} covered, {label}, {region}", call, repeats=2,
                                         group="coverage", per=run, note=covered)
            timed["crops"].note += f", crops {share[0]:.1%}, {run} frames per call"
            ctx.value(f"{coverage:.0%} covered, {label}: frame / crops", timed["frame"].median / timed["crops"].median,
                      "x", group="coverage")


def _temporal(ctx) -> None:
    clip = QUICK_CLIP if ctx.quick else CLIP
    service = Service(torch.device(ctx.device))
    outputs, mean_error = {}, {}
    for weight in (0.0, STAGES["neural_style"].SPEC.by_name["temporal"].default):
        frames, stage_ms = [], []
        for index in clip:
            header = {"id": 1, "shot": f"temporal{weight}", "source": {"kind": "file", "path": str(VTEST),
                                                                        "frame": index},
                      "pipeline": [{"stage": "instance_mask", "params": {}},
                                   {"stage": "instance_tracker", "params": {"shot_start": clip[0]}},
                                   {"stage": "neural_style", "params": {"temporal": weight},
                                    "return": ["image", "mask"]}]}
            reply, payloads = service.run(parse_run(header), [])
            image, mask = (np.frombuffer(payloads[reply["arrays"][f"neural_style.{n}"]["payload"]], np.float32)
                           .reshape(reply["arrays"][f"neural_style.{n}"]["shape"]) for n in ("image", "mask"))
            frames.append((service.frames.frame(str(VTEST), index), image, mask >= 0.5))
            stage_ms.append(reply["timings_ms"]["neural_style"])
        errors = [warping_error(a[1], b[1], a[0], b[0], a[2]) for a, b in zip(frames, frames[1:])]
        outputs[weight], mean_error[weight] = frames, float(np.mean(errors))
        ctx.value(f"Neural Style ms per frame, temporal {weight:g}", float(np.median(stage_ms[1:])), "ms",
                  group="temporal", note="median over the clip in order, first frame left out")
        ctx.value(f"warping error, temporal {weight:g}", mean_error[weight], "", group="temporal",
                  note=f"mean over {len(errors)} frame pairs, vtest {clip[0]}-{clip[-1]}, stylized people only")
    off, on = mean_error.values()
    ctx.value("warping error reduction", 1.0 - on / off, "", group="temporal", note="1 - on / off")
    if not ctx.quick:
        _pair_sheet(ctx, list(outputs.values()))


def _pair_sheet(ctx, runs: list) -> None:
    """Frames 10 and 11 of the clip, without (top) and with (bottom) stabilisation, cropped to the people."""
    rows = []
    for frames in runs:
        (_, a, mask), (_, b, _) = frames[10], frames[11]
        ys, xs = np.nonzero(mask)
        y0, y1 = max(ys.min() - 16, 0), min(ys.max() + 16, mask.shape[0])
        x0, x1 = max(xs.min() - 16, 0), min(xs.max() + 16, mask.shape[1])
        rows.append(np.hstack([a[y0:y1, x0:x1], np.ones((y1 - y0, 8, 3), np.float32), b[y0:y1, x0:x1]]))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows])
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "temporal-pair.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(np.round(sheet * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    ctx.artifacts["temporal_pair"] = str(path)
