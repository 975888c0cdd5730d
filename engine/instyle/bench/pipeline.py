"""`bench pipeline`: whole frames through instyle and through the published pipelines, in one run.

Every pipeline is an engine pipeline run through the real `Service` (the code a Blender render calls), on the
same models where a model is shared (the Instance Mask stage at its defaults for all four), and every pipeline
styles every person in the same style, `STYLE_IMAGE` (`STYLE`): warping error and seams depend on the style, so
only then do they compare the pipelines. The fast pipelines render it with the Arbitrary network (the one network
that takes any painting), LST by optimisation:

- instyle: every other setting at its defaults (Kalman tracker, crops normalised with the frame's statistics,
  temporal stabilisation, MRF blend);
- CBS: one whole-frame rendering for every person and a hard paste (no tracker);
- IST: a crop per person, IST's nearest-centre tracker, a hard paste;
- LST (Localized Style Transfer): Gatys optimisation with the masked style loss, `LST_ITERATIONS` Adam steps
  per frame (the paper runs hundreds; more is impractical on a CPU; 2 in a quick run: the report states the
  count), MRF blend; on the first frames of the clip only (`FRAMES`), for the same reason.

The footage is vtest.avi frames 0 to N - 1 in order (768x576, one shot: the frames build/demo.sh renders
in Blender), and the same frames upscaled to 1920x1080 (stretched; no real 1080p footage is available
offline), read from an MJPG .avi file (`footage.upscaled`) as a render of a 1080p plate reads it, key frames
and crop path included. Per pipeline:

- milliseconds per frame for each stage (the reply's `timings_ms`) and for the whole request, median and
  interquartile range over the clip, the first frame excluded (it loads the models, and the detector always
  runs on a shot's first frame); also the median over the frames with at most `MAX_PEOPLE` people;
- warping error of the output video (`ops.temporal.warping_error` between consecutive outputs, restricted to
  the pixels of the first of the two that show stylized pixels, alpha > 0);
- seam excess over the blend band (`ops.blend.seam_excess`, as `bench blend`, against the footage and the
  pipeline's own stylized frame): the band is the pixels within `band / 2 + 1` of the mask edge, the MRF
  default band for every pipeline; seams where two people's styles meet are `bench blend`'s subject;
- the count of pixels outside the band that differ from the footage: 0 for every pipeline by construction (all
  four composite through MRF Blend, which keeps the footage outside the band), so a check, not a comparison.

A full run also writes a contact sheet (out/bench/pipeline-sheet.jpg): per pipeline, the footage, the
masks, the stylized frame, the result and a zoomed crop of the result at a mask edge.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from . import Figure
from .blend import edge_band
from .footage import DATA, upscaled
from .mask import overlay
from ..media import FrameSource
from ..ops.blend import seam_excess, signed_edge_distance
from ..ops.temporal import warping_error
from ..service import Service
from ..stages import mrf_blend
from ..wire.requests import parse_run

STYLE_IMAGE = DATA / "starry_night.jpg"
OUT = Path(__file__).resolve().parents[3] / "out" / "bench"
LST_ITERATIONS = 20
QUICK_LST_ITERATIONS = 2
MAX_PEOPLE = 4

SIZES = {"768x576": (768, 576), "1920x1080": (1920, 1080)}
FRAMES = {"768x576": {"instyle": 48, "CBS": 48, "IST": 48, "LST": 6},
          "1920x1080": {"instyle": 8, "CBS": 8, "IST": 8, "LST": 2}}
QUICK_FRAMES = {"768x576": {"instyle": 3, "CBS": 3, "IST": 3, "LST": 2}, "1920x1080": {"instyle": 2}}
SHEET_FRAME = 5  # within LST's frames
STAGE_NAMES = ("decode", "instance_mask", "instance_tracker", "neural_style", "mrf_blend")


STYLE = {"assign": "single", "style_image": str(STYLE_IMAGE)}
"""The Neural Style settings every pipeline shares: every person in `STYLE_IMAGE`."""


def pipelines(lst_iterations: int = LST_ITERATIONS) -> dict[str, list[dict]]:
    """The four pipelines as engine requests' `pipeline` lists (without what they return)."""
    mask = {"stage": "instance_mask", "params": {}}
    arbitrary = {**STYLE, "method": "arbitrary"}
    return {
        "instyle": [mask, {"stage": "instance_tracker", "params": {}}, {"stage": "neural_style", "params": arbitrary},
                    {"stage": "mrf_blend", "params": {}}],
        "CBS": [mask, {"stage": "neural_style", "params": {**arbitrary, "region": "frame", "temporal": 0.0}},
                {"stage": "mrf_blend", "params": {"mode": "naive"}}],
        "IST": [mask, {"stage": "instance_tracker", "params": {"method": "centre"}},
                {"stage": "neural_style", "params": {**arbitrary, "region": "crops", "temporal": 0.0}},
                {"stage": "mrf_blend", "params": {"mode": "naive"}}],
        "LST": [mask, {"stage": "neural_style", "params": {**STYLE, "method": "optimise", "temporal": 0.0,
                                                           "iterations": lst_iterations}},
                {"stage": "mrf_blend", "params": {"mode": "mrf"}}],
    }


RETURNS = {"instance_mask": ["index"], "neural_style": ["image", "mask"], "mrf_blend": ["image", "alpha"]}


@dataclass
class Frame:
    """One frame's result: `footage` uint8 HxWx3 RGB; `index` the instance index pass, `stylized` and `result`
    float32 HxWx3 sRGB in [0, 1], `mask` and `alpha` float32 HxW in [0, 1]; `timings` the reply's milliseconds
    per step plus "total" (the whole request); `people` the instances the pipeline styled."""

    footage: np.ndarray
    index: np.ndarray
    stylized: np.ndarray
    mask: np.ndarray
    result: np.ndarray
    alpha: np.ndarray
    timings: dict
    people: int


@dataclass
class Scores:
    """Per-frame figures of one pipeline at one size, in clip order (warping errors from the second frame)."""

    timings: list[dict] = field(default_factory=list)
    people: list[int] = field(default_factory=list)
    warping: list[float] = field(default_factory=list)
    seams: list[float] = field(default_factory=list)
    background_changed: list[int] = field(default_factory=list)

    def first(self, count: int) -> Scores:
        """The scores of the first `count` frames."""
        return Scores(self.timings[:count], self.people[:count], self.warping[:count - 1], self.seams[:count],
                      self.background_changed[:count])


class Runner:
    """Sends a pipeline's requests for consecutive frames to a `Service`, as a Blender render in order does."""

    def __init__(self, service: Service, size: str):
        self.service, self.size, self.frames, self.requests = service, size, FrameSource(), 0
        self.path = upscaled(SIZES[size], max(FRAMES[size].values()))

    def footage(self, index: int) -> np.ndarray:
        """Frame `index` of the clip at this runner's size, as the engine reads it: uint8 HxWx3 RGB."""
        return self.frames.frame(str(self.path), index)

    def run(self, name: str, pipeline: list[dict], index: int, shot: str) -> Frame:
        footage = self.footage(index)
        source, payloads = {"kind": "file", "path": str(self.path), "frame": index}, []
        stages = [{**stage, "return": RETURNS.get(stage["stage"], [])} for stage in pipeline]
        self.requests += 1
        header = {"type": "run", "id": self.requests, "source": source, "pipeline": stages,
                  "shot": f"bench-{name}-{self.size}-{shot}"}
        started = time.perf_counter()
        reply, arrays = self.service.run(parse_run(header), payloads)
        total = (time.perf_counter() - started) * 1000

        def array(key: str) -> np.ndarray:
            spec = reply["arrays"][key]
            return np.frombuffer(arrays[spec["payload"]], np.dtype(spec["dtype"])).reshape(spec["shape"])

        return Frame(footage, array("instance_mask.index"), array("neural_style.image"), array("neural_style.mask"),
                     array("mrf_blend.image"), array("mrf_blend.alpha"), {**reply["timings_ms"], "total": total},
                     len(reply["instances"]))


def band_and_background(mask: np.ndarray, band: float) -> tuple[np.ndarray, np.ndarray]:
    """bool HxW pair: the seam band (within band / 2 + 1 of the edge of mask >= 0.5, as `bench blend`) and the
    background (the pixels outside the mask and farther than band / 2 from its edge)."""
    signed = signed_edge_distance(mask >= 0.5)
    return edge_band(signed, band), signed <= -band / 2.0


def score_clip(runner: Runner, name: str, pipeline: list[dict], count: int, band: float,
               keep: int | None = None) -> tuple[Scores, Frame | None]:
    """Run `count` consecutive frames from 0 through `pipeline` and score them; returns the scores and the
    frame numbered `keep` (for the contact sheet)."""
    scores, previous, kept = Scores(), None, None
    for index in range(count):
        frame = runner.run(name, pipeline, index, "clip")
        footage = frame.footage.astype(np.float32) / 255.0
        near, background = band_and_background(frame.mask, band)
        scores.timings.append(frame.timings)
        scores.people.append(frame.people)
        scores.seams.append(seam_excess(frame.result, [footage, frame.stylized], near))
        difference = frame.result[background] - footage[background]
        scores.background_changed.append(int(np.count_nonzero(np.any(difference != 0, axis=-1))))
        if previous is not None:
            scores.warping.append(warping_error(previous.result, frame.result, previous.footage, frame.footage,
                                                previous.alpha > 0))
        previous = frame
        if index == keep:
            kept = frame
    return scores, kept


def record(ctx, group: str, name: str, samples: list[float], unit: str, note: str = "") -> Figure | None:
    """A figure from per-frame samples: their median and interquartile range."""
    if not samples:
        return None
    quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    figure = Figure(name, unit, statistics.median(samples), quartiles[2] - quartiles[0], len(samples), group, note)
    ctx.figures.append(figure)
    return figure


def record_scores(ctx, size: str, name: str, scores: Scores, frames: int, note: str) -> None:
    timed = scores.timings[1:] or scores.timings  # a shot's first frame always detects
    people = scores.people[1:] or scores.people
    group = f"ms per {size} frame, engine"
    for stage in (*STAGE_NAMES, "total"):
        samples = [t[stage] + t.get(f"{stage}.output", 0.0) for t in timed if stage in t]
        record(ctx, group, f"{name}: {stage}", samples, "ms", note if stage == "total" else "")
    record(ctx, group, f"{name}: total, frames with <= {MAX_PEOPLE} people",
           [t["total"] for t, n in zip(timed, people) if n <= MAX_PEOPLE], "ms",
           f"people per frame {min(people)}..{max(people)}")
    record_quality(ctx, f"quality at {size}, frames 0-{frames - 1}", name, scores)


def record_quality(ctx, group: str, name: str, scores: Scores, note: str = "") -> None:
    record(ctx, group, f"{name}: warping error", [1e3 * w for w in scores.warping], "1e-3",
           note or "consecutive outputs over stylized pixels, motion-compensated")
    record(ctx, group, f"{name}: seam excess", [1e4 * s for s in scores.seams], "1e-4",
           note or "mean squared, sRGB units, over the band")
    ctx.value(f"{name}: background pixels changed", sum(scores.background_changed), "px", group,
              note or "outside the band: 0 by construction (MRF Blend's composite), a check")


def run(ctx) -> None:
    service = Service(torch.device(ctx.device))
    band = mrf_blend.SPEC.resolve({})["band"]
    frames = QUICK_FRAMES if ctx.quick else FRAMES
    lst_iterations = QUICK_LST_ITERATIONS if ctx.quick else LST_ITERATIONS
    ctx.value("LST: Adam steps per frame", lst_iterations, "steps", "settings",
              "Localized Style Transfer's paper runs hundreds; more is impractical on a CPU")
    sheet: dict[str, Frame] = {}
    for size in SIZES:
        runner, clips = Runner(service, size), {}
        for name, pipeline in pipelines(lst_iterations).items():
            count = frames[size].get(name, 0)
            if count == 0:
                continue
            note = f"{runner.path.name} frames 0-{count - 1}"
            keep = SHEET_FRAME if size == "768x576" and not ctx.quick else None
            scores, kept = score_clip(runner, name, pipeline, count, band, keep)
            record_scores(ctx, size, name, scores, count, note)
            if kept is not None:
                sheet[name] = kept
            clips[name] = scores
            if name == "LST":  # the others on LST's frames too
                for other in ("instyle", "CBS", "IST"):
                    record_quality(ctx, f"quality at {size}, frames 0-{count - 1}", other,
                                   clips[other].first(count), "LST's frames")
        ratios(ctx, size)
    if sheet:
        ctx.artifacts["contact_sheet"] = str(contact_sheet(sheet, OUT / "pipeline-sheet.jpg"))


def ratios(ctx, size: str) -> None:
    """Each baseline's time per frame as a multiple of instyle's."""
    group = f"ms per {size} frame, engine"
    totals = {f.name.split(":")[0]: f.median for f in ctx.figures if f.group == group and f.name.endswith(": total")}
    for name, ms in totals.items():
        if name != "instyle":
            ctx.value(f"{name} / instyle", ms / totals["instyle"], "x", f"{size}: time per frame against instyle")


def contact_sheet(frames: dict[str, Frame], path: Path, tile: tuple[int, int] = (384, 288), zoom: int = 4) -> Path:
    """A JPEG with a row per pipeline: footage, masks, stylized frame, result (each `tile` = (width, height)
    pixels), and the result's pixels around the largest person's mask edge enlarged `zoom` times."""
    crop = (tile[0] // zoom, tile[1] // zoom)
    rows = []
    for name, frame in frames.items():
        people = [frame.index == k for k in np.unique(frame.index) if k > 0]
        masks = np.stack(people).astype(np.float32) if people else np.zeros((0, *frame.mask.shape), np.float32)
        boxes = np.array([cv2.boundingRect(m.astype(np.uint8)) for m in masks], np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        panels = [frame.footage, overlay(frame.footage, boxes, masks, ""), _uint8(frame.stylized),
                  _uint8(frame.result), _edge_crop(_uint8(frame.result), frame.mask, crop)]
        labels = [f"{name}: footage", "masks", "stylized", "result", "result at a mask edge"]
        row = []
        for panel, label in zip(panels, labels):
            panel = cv2.resize(panel, tile, interpolation=cv2.INTER_NEAREST if panel.shape[1::-1] == crop
                               else cv2.INTER_AREA)
            panel = np.ascontiguousarray(panel[:, :, ::-1])
            cv2.putText(panel, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(panel, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
            row.append(panel)
        rows.append(np.concatenate(row, axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(rows, axis=0), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return path


def _uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def _edge_crop(image: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A crop of `image` of `size` (width, height) centred on the left edge of the largest region of mask >= 0.5
    (float32 HxW) in the row of its centroid; the frame's centre without one."""
    inside = (mask >= 0.5).astype(np.uint8)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(inside)
    h, w = mask.shape
    if count < 2:
        cy, cx = h // 2, w // 2
    else:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        cy = int(centroids[largest][1])
        cx = int(np.flatnonzero(labels[cy] == largest)[0])  # the left edge at the centroid's row
    (cw, ch) = size
    y0, x0 = min(max(cy - ch // 2, 0), h - ch), min(max(cx - cw // 2, 0), w - cw)
    return image[y0:y0 + ch, x0:x0 + cw]
