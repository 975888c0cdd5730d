"""`bench blend`: MRF Blend's modes side by side on real stylized frames, in one run.

The frames are vtest.avi (768x576) through the real instance_mask, instance_tracker and neural_style stages
at their defaults (people in several styles, some touching). For every mode, at the default band:

- speed: milliseconds per frame for the whole stage (band geometry, seams between instances, the blend, the
  composite), frames taken in turn;
- seam visibility: `ops.blend.seam_excess` over the band (the mask edges and the lines where instances meet,
  grown by a pixel): the contrast in the result that neither the footage nor any instance's stylized image
  has across the same pixel pair, squared and averaged, as a ratio to the naive paste's;
- how much of the band each mode rewrites: mean |result - naive paste| over the band;
- pixels outside the band that differ from the input (must be 0).

OpenCV's `seamlessClone` runs on the same frames as a reference (not a mode: it shifts whole regions).
A full run also writes a side-by-side sheet of crops (out/bench/blend-seams.jpg).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from ..frame_state import FrameState, ShotState
from ..media import FrameSource
from ..modelstore import ModelStore
from ..models.zoo import ModelZoo
from ..ops.blend import seam_excess, signed_edge_distance
from ..stage_context import StageContext
from ..stages import STAGES, mrf_blend
from .footage import VTEST

FRAMES = (20, 120, 300, 500, 700)
QUICK_FRAMES = (300,)
OUT = Path(__file__).resolve().parents[3] / "out" / "bench"
SHEET_ORDER = ("naive", "feather", "poisson", "mrf")
MODES = mrf_blend.SPEC.by_name["mode"].values


def stylized_frames(indices: tuple[int, ...], device: str = "cpu") -> list[FrameState]:
    """vtest.avi frames after the real instance_mask, instance_tracker and neural_style stages (defaults)."""
    if not VTEST.is_file():
        raise SystemExit(f"cannot read {VTEST}: install Debian's opencv-doc (build/setup.sh does)")
    zoo, source, shot = ModelZoo(ModelStore(), torch.device(device)), FrameSource(), ShotState()
    states = []
    for index in indices:
        frame = source.frame(str(VTEST), index)
        state = FrameState(rgb=frame.astype(np.float32) / 255.0, index=index)
        ctx = StageContext(zoo, shot, frame, index)
        for name in ("instance_mask", "instance_tracker", "neural_style"):
            STAGES[name].run(state, STAGES[name].SPEC.resolve({}), ctx)
        shot.last_index = index
        states.append(state)
    return states


def band_region(state: FrameState, band: float) -> np.ndarray:
    """bool HxW: the pixels within band / 2 + 1 of a mask edge, or of a line where two instances' pixels meet
    within reach of the blend: where every mode's seams are measured."""
    half = band / 2.0
    signed = signed_edge_distance(state.mask >= 0.5)
    near = edge_band(signed, band)
    if state.owner is not None and len(state.instances) > 1:
        owner, meets = state.owner, np.zeros(state.size, bool)
        meets[:, 1:] |= owner[:, 1:] != owner[:, :-1]
        meets[1:] |= owner[1:] != owner[:-1]
        radius = math.ceil(half) + 1
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        near |= (cv2.dilate(meets.astype(np.uint8), disc) > 0) & (signed > -half)
    return near


def edge_band(signed: np.ndarray, band: float) -> np.ndarray:
    """bool HxW: the pixels within band / 2 + 1 of a mask's edge, given their signed distance from it (float32
    HxW, `ops.blend.signed_edge_distance`): the blend band and a pixel either side, where seams are measured."""
    return np.abs(signed) < band / 2.0 + 1


def instance_layers(state: FrameState) -> list[np.ndarray]:
    """Each instance's own stylized image over the footage, float32 HxWx3: the sources a seam is judged by."""
    layers = []
    for inst in state.instances:
        x0, y0, x1, y1 = inst.stylized_region
        layer = state.rgb.copy()
        layer[y0:y1, x0:x1] = inst.stylized
        layers.append(layer)
    return layers


def opencv_clone(state: FrameState, band: float) -> np.ndarray:
    """OpenCV's seamlessClone of the stylized image into the footage over the mask grown by band / 2."""
    grown = signed_edge_distance(state.mask >= 0.5) > -band / 2.0
    region = (grown * 255).astype(np.uint8)
    region[[0, -1]] = 0
    region[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(region)
    to8 = [np.round(np.clip(i, 0, 1) * 255).astype(np.uint8) for i in (state.stylized, state.rgb)]
    return cv2.seamlessClone(to8[0], to8[1], region, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE) / np.float32(255)


def run(ctx) -> None:
    states = stylized_frames(QUICK_FRAMES if ctx.quick else FRAMES, ctx.device)
    params = {mode: mrf_blend.SPEC.resolve({"mode": mode}) for mode in MODES}
    band = params["mrf"]["band"]
    note = f"{len(states)} frames, {sum(len(s.instances) for s in states)} instances, band {band:g} px"
    for mode in MODES:
        turn = itertools.cycle(states)
        ctx.time(mode, lambda: mrf_blend.run(next(turn), params[mode], None), repeats=5 * len(states),
                 group="ms per 768x576 frame (whole stage)", note=note if mode == "mrf" else "")
    turn = itertools.cycle(states)
    ctx.time("opencv seamlessClone", lambda: opencv_clone(next(turn), band), repeats=3 * len(states),
             group="ms per 768x576 frame (whole stage)", note="reference, not a mode")

    results = {mode: [mrf_blend.run(s, params[mode], None) for s in states] for mode in MODES}
    regions = [band_region(s, band) for s in states]
    sources = [[s.rgb, *instance_layers(s)] for s in states]
    outputs = {mode: [r["image"] for r in results[mode]] for mode in MODES}
    outputs["opencv seamlessClone"] = [opencv_clone(s, band) for s in states]
    naive = outputs["naive"]
    seams = {name: float(np.mean([seam_excess(img, src, near) for img, src, near in zip(images, sources, regions)]))
             for name, images in outputs.items()}
    for name, images in outputs.items():
        ctx.value(name, seams[name] * 1e4, "1e-4", "seam excess (mean squared, sRGB units)")
    for name in outputs:
        ctx.value(name, seams[name] / seams["naive"], "x naive", "seam excess relative to the naive paste")
    for name, images in outputs.items():
        rewrite = np.mean([np.abs(img - base)[near].mean() for img, base, near in zip(images, naive, regions)])
        ctx.value(name, rewrite, "sRGB", "mean |result - naive| over the band")
    for name, images in outputs.items():
        changed = sum(int(((img != base).any(axis=2) & ~near).sum())
                      for img, base, near in zip(images, naive, regions))
        ctx.value(name, changed, "px", "pixels outside the band that differ from the input")
    if not ctx.quick:
        ctx.artifacts["crops"] = str(crop_sheet(states, results, OUT / "blend-seams.jpg"))


def crop_sheet(states: list[FrameState], results: dict, path: Path, size=(120, 80), zoom: int = 3) -> Path:
    """A JPEG of crops, one row per crop, the modes side by side and MRF's alpha last: the largest person of
    the first frame against the background, and the longest line where two instances meet."""
    crops = [(0, _centre(max(states[0].instances, key=lambda i: (i.mask >= 0.5).sum()).box))]
    meeting = max(((k, _meeting_centre(s)) for k, s in enumerate(states)), key=lambda m: m[1][2])
    if meeting[1][2] > 0:
        crops.append((meeting[0], meeting[1][:2]))
    rows = []
    for k, (cy, cx) in crops:
        h, w = states[k].size
        y0, x0 = min(max(cy - size[0] // 2, 0), h - size[0]), min(max(cx - size[1] // 2, 0), w - size[1])
        alpha = np.repeat(results["mrf"][k]["alpha"][:, :, None], 3, axis=2)
        panels = [results[mode][k]["image"] for mode in SHEET_ORDER] + [alpha]
        row = []
        for label, panel in zip((*SHEET_ORDER, "mrf alpha"), panels):
            tile = cv2.resize(panel[y0:y0 + size[0], x0:x0 + size[1]], None, fx=zoom, fy=zoom,
                              interpolation=cv2.INTER_NEAREST)
            tile = np.ascontiguousarray(np.clip(tile[:, :, ::-1] * 255, 0, 255).astype(np.uint8))
            cv2.putText(tile, label, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3)
            cv2.putText(tile, label, (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1)
            row.append(tile)
        rows.append(np.concatenate(row, axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(rows, axis=0), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def _centre(box) -> tuple[int, int]:
    return int((box[1] + box[3]) / 2), int((box[0] + box[2]) / 2)


def _meeting_centre(state: FrameState) -> tuple[int, int, int]:
    """(row, column, length) of the centre of the pixels where two instances' styles meet inside the masks."""
    if state.owner is None:
        return 0, 0, 0
    meets = np.zeros(state.size, bool)
    meets[:, 1:] = (state.owner[:, 1:] != state.owner[:, :-1]) & (state.mask[:, 1:] >= 0.5)
    ys, xs = np.nonzero(meets)
    return (int(np.median(ys)), int(np.median(xs)), len(ys)) if len(ys) else (0, 0, 0)
