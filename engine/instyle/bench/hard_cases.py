"""`bench track`'s hard-case clips: masks and identities of each method on clips with exact truth.

Every labelled clip (`clips`: people seen from behind, cut by the frame's edges, small and far, partly
hidden, in a CG/animated look, in low light, and a hard cut) is written as a PNG image sequence and goes,
frame by frame in order, through `Service.run` as Blender's requests do: Instance Mask, then Instance
Tracker with `shot_start` 0 and a folder to write to, so that it records the shot's track store. A method
whose `analysed` is true first runs every frame in order (what Blender's Analyze does: it fills the track
store), then every frame again, and that second pass is scored and timed. What is scored is what gets
styled: the tracker's `tracks` pass (each pixel's track id), one mask per id. Per clip and method, and over
all clips: recall at mask IoU 0.5, mean mask IoU, boundary F, ID switches, blinks, dropouts and false styles
(`metrics`), and milliseconds per frame of the two stages (mean over the clip's frames, models loaded beforehand). Faster as
the previous release ran it (`RELEASED`) runs beside today's Faster and Better, each also analysed first. A contact
sheet shows each clip's hardest frame (most blinks over the methods, then lowest mask IoU): the footage with
the truth outlined, and each method's styled masks coloured by track id, the truth outlined in yellow and
each blink boxed in red.

The group lives in `bench track`, not `bench mask`, because two of its five measures, ID switches and
blinks, come from the tracker and its track store, which need the whole Instance Mask + Instance Tracker
pipeline on shots in order; `bench mask` scores the Instance Mask stage alone on stills.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import clips as clip_set
from .mask import OUT, colour, overlay
from .metrics import ClipScore, FrameScore, combine, score_clip, score_frame
from ..wire.requests import parse_run

RELEASED = {"instance_mask": {"quality": "faster", "weak_threshold": 0.35}, "instance_tracker": {"hold": 0}}
"""Faster as the previous release ran it: no weak detections, no one held (it also waited for confirmation on
the first frame after a cut, which the tracker no longer does)."""
METHODS = {
    "faster, as released": {**RELEASED, "analysed": False},
    "faster": {"instance_mask": {"quality": "faster"}, "instance_tracker": {}, "analysed": False},
    "faster, analysed": {"instance_mask": {"quality": "faster"}, "instance_tracker": {}, "analysed": True},
    "better": {"instance_mask": {"quality": "better"}, "instance_tracker": {}, "analysed": False},
    "better, analysed": {"instance_mask": {"quality": "better"}, "instance_tracker": {}, "analysed": True},
}
"""The one table of what runs: name -> Instance Mask parameters, Instance Tracker parameters (shot_start is
set here) and whether the clip is analysed first."""
QUICK = ("faster, as released", "faster", "better")
"""The methods the quick run (CI's smoke test) runs."""
GROUP = "hard-case clips, exact masks (Service.run, styled masks)"
MEASURES = (("recall at IoU 0.5", "recall"), ("mean mask IoU", "mean_iou"), ("boundary F", "boundary_f"),
            ("ID switches", "switches"), ("blinks", "blinks"), ("dropouts", "dropouts"),
            ("false styles", "false_styles"))
"""(figure name, ClipScore field) of each score recorded."""
TILE = (288, 384)


def request(pattern: str, frame: int, shot: str, method: dict, store: Path) -> dict:
    """The `run` request of one frame of an image sequence for `method` (a METHODS entry): the tracker starts
    the shot at frame 0, records its track store in `store` (writing no other file) and returns its tracks."""
    return {"id": frame, "shot": shot, "frame_number": frame,
            "source": {"kind": "file", "path": pattern, "frame": frame},
            "pipeline": [{"stage": "instance_mask", "params": method["instance_mask"]},
                         {"stage": "instance_tracker", "params": {**method["instance_tracker"], "shot_start": 0},
                          "write": str(store), "write_outputs": [], "return": ["tracks"]}]}


@dataclass
class Run:
    """A method's output on a clip: per frame, the styled instances' track ids painted (uint16 HxW, 0: no one
    styled) and the milliseconds its two stages took."""

    tracks: list
    ms: list

    def instances(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame f's styled instances: track ids (int64 N) and masks (float32 NxHxW, 0 or 1)."""
        ids = np.unique(self.tracks[f])
        ids = ids[ids > 0].astype(np.int64)
        return ids, (self.tracks[f][None] == ids[:, None, None].astype(np.uint16)).astype(np.float32)


def predict(service, pattern: str, frames: int, shot: str, method: dict) -> Run:
    """`method` on frames 0..frames-1 of the image sequence `pattern`, in order, as shot `shot` of `service`
    (a fresh key: its shot state starts empty), with a track store of its own; analysed methods run twice and
    give their second pass."""
    with tempfile.TemporaryDirectory(prefix="instyle-tracks-") as store:
        for _ in range(2 if method["analysed"] else 1):
            out = Run([], [])
            for f in range(frames):
                reply, payloads = service.run(parse_run(request(pattern, f, shot, method, Path(store))), [])
                spec = reply["arrays"]["instance_tracker.tracks"]
                tracks = np.frombuffer(payloads[spec["payload"]], np.float32).reshape(spec["shape"])
                out.tracks.append(np.rint(tracks).astype(np.uint16))
                out.ms.append(reply["timings_ms"]["instance_mask"] + reply["timings_ms"]["instance_tracker"])
    return out


def score(clip: clip_set.Clip, run: Run) -> list[FrameScore]:
    """Each frame of `run` scored against the clip's truth."""
    return [score_frame(*clip.truth(f), *run.instances(f)) for f in range(len(clip.frames))]


def record(ctx, where: str, method: str, scores: ClipScore, ms: float, note: str = "") -> None:
    """The scores (MEASURES) and the time per frame of `method` on `where` (a clip, or all of them)."""
    for k, (title, name) in enumerate(MEASURES):
        ctx.value(f"{where}: {title}, {method}", getattr(scores, name), "", GROUP, note if k == 0 else "")
    ctx.value(f"{where}: ms per frame, {method}", ms, "ms", GROUP, "Instance Mask + Instance Tracker")


def hardest(frames: dict[str, list[FrameScore]], blinks: dict[str, list[tuple[int, int]]]) -> int:
    """The frame with the most blinks over the methods, then the lowest mask IoU summed over them (frames with
    someone visible first)."""
    count = len(next(iter(frames.values())))

    def key(f: int) -> tuple:
        lost = sum(at == f for found in blinks.values() for at, _ in found)
        ious = [s[f].iou.mean() for s in frames.values() if len(s[f].iou)]
        return -lost, not ious, sum(ious)

    return min(range(count), key=key)


def boxes_of(masks: np.ndarray) -> np.ndarray:
    """float64 Nx4: the bounding box (x1, y1, x2, y2) of each NxHxW mask's pixels at 0.5 or more."""
    out = np.zeros((len(masks), 4))
    for k, mask in enumerate(masks):
        ys, xs = np.nonzero(mask >= 0.5)
        if len(ys):
            out[k] = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return out


def outline(image: np.ndarray, mask: np.ndarray, rgb, thickness: int = 1) -> None:
    """Draw the outline of a float HxW mask (at 0.5) on uint8 or float32 HxWx3 `image` in colour `rgb`."""
    contours, _ = cv2.findContours((mask >= 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(image, contours, -1, tuple(float(v) for v in rgb), thickness)


def shrink(image: np.ndarray, caption: str) -> np.ndarray:
    """uint8 RGB `image` scaled to TILE with `caption` (its lines) written at its top."""
    out = cv2.resize(image, TILE[::-1], interpolation=cv2.INTER_AREA)
    lines = caption.split("\n")
    cv2.rectangle(out, (0, 0), (TILE[1], 6 + 16 * len(lines)), (0, 0, 0), -1)
    for k, line in enumerate(lines):
        cv2.putText(out, line, (5, 16 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def truth_tile(clip: clip_set.Clip, f: int) -> np.ndarray:
    """The footage of frame f with each person's visible truth outlined in a colour of their id."""
    image = clip.frames[f].copy()
    for i, mask in zip(*clip.truth(f)):
        outline(image, mask, colour(int(i)), 2)
    return shrink(image, f"{clip.name}, frame {f}: truth\n{clip.case}")


def method_tile(clip: clip_set.Clip, f: int, name: str, run: Run, scores: ClipScore) -> np.ndarray:
    """Frame f with the method's styled masks coloured by track id, the truth outlined in yellow and each person
    who blinks here boxed in red."""
    ids, masks = run.instances(f)
    image = overlay(clip.frames[f], boxes_of(masks), masks, "", keys=ids)
    truth_ids, truth = clip.truth(f)
    lost = {i for at, i in scores.blink_at if at == f}
    for i, mask, box in zip(truth_ids, truth, boxes_of(truth)):
        outline(image, mask, (255, 230, 0))
        if i in lost:
            x1, y1, x2, y2 = box.astype(int)
            cv2.rectangle(image, (x1 - 4, y1 - 4), (x2 + 4, y2 + 4), (255, 0, 0), 3)
            cv2.putText(image, "blink", (x1, max(y1 - 8, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 0), 2)
    return shrink(image, f"{name} (whole clip): recall {scores.recall:.2f}, mIoU {scores.mean_iou:.2f}\n"
                         f"{scores.blinks} blinks, {scores.switches} ID switches; red: a blink here")


def run(ctx, zoo, people: list, plate: np.ndarray) -> None:
    """Build the clips (`people`: `track.cast`'s sprites; `plate`: the empty plaza), run every method on each,
    record the scores and write the contact sheet."""
    import torch

    from ..service import Service

    service = Service(torch.device(ctx.device))
    labelled = clip_set.clips(clip_set.cast(zoo, people, plate, ctx.quick), ctx.quick)
    suffix = "-quick" if ctx.quick else ""
    methods = {name: m for name, m in METHODS.items() if name in QUICK or not ctx.quick}
    totals = {name: ([], []) for name in methods}  # per method: clip scores, ms per frame
    rows = []
    for n, clip in enumerate(labelled):
        pattern = clip_set.write(clip, clip_set.CLIPS_DIR / f"{clip.name}{suffix}")
        if n == 0:
            for name, method in methods.items():  # load the models before timing
                predict(service, pattern, 1, f"warm-up, {name}", method)
        runs = {name: predict(service, pattern, len(clip.frames), f"{clip.name}, {name}", method)
                for name, method in methods.items()}
        frames = {name: score(clip, r) for name, r in runs.items()}
        scores = {name: score_clip(s, set(clip.starts)) for name, s in frames.items()}
        note = f"{clip.case}; {len(clip.frames)} frames, {scores[next(iter(methods))].person_frames} person-frames"
        for name in methods:
            record(ctx, clip.name, name, scores[name], float(np.mean(runs[name].ms)), note)
            totals[name][0].append(scores[name])
            totals[name][1].extend(runs[name].ms)
        f = hardest(frames, {name: s.blink_at for name, s in scores.items()})
        rows.append(np.concatenate([truth_tile(clip, f)] + [method_tile(clip, f, name, runs[name], scores[name])
                                                            for name in methods], axis=1))
    for name, (per_clip, ms) in totals.items():
        record(ctx, "all clips", name, combine(per_clip), float(np.mean(ms)), f"{len(labelled)} clips")
    path = OUT / f"track-hard-cases{suffix}.jpg"
    cv2.imwrite(str(path), np.concatenate(rows)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    ctx.artifacts["hard_cases"] = str(path)
