"""The norm statistics the fast and arbitrary networks normalise crops with: the whole footage frame's, at the
working resolution, so that a person is stylized in a crop as in the whole frame, whatever crop is cut around them.

The fast network is sensitive to them: 5% more variance in every norm changes its picture by 12 to 18 levels (of 255);
taken on a quarter-resolution copy of the frame they change it by 20 to 30 and flatten textures into blobs. Taking
them on each whole frame would cost a whole-frame pass, more than crops save. Within a shot they change slowly
(a neighbouring frame's change the picture by under a level), so they are taken on key frames of the footage,
every KEY_INTERVAL frames, and interpolated between the two key frames around a frame (about a level from the
frame's own on vtest). A key frame whose colours differ from the frame's as across a cut (`ops.cuts`) is left
out; a frame with neither key frame in its shot is its own key frame. Key frames depend only on the frame's
index, so a frame gets the same statistics in whatever order frames are rendered; on a key frame they are the
frame's own.
"""

from __future__ import annotations

import numpy as np
import torch

from ..media import SourceError
from ..models.fast_style import Statistics
from ..ops import cuts
from .methods import resized

KEY_INTERVAL = 24


def key_frames(index: int) -> list[tuple[int, float]]:
    """The key frames around frame `index` and their weights (summing to 1)."""
    first = index - index % KEY_INTERVAL
    share = (index - first) / KEY_INTERVAL
    return [(first, 1.0)] if share == 0 else [(first, 1.0 - share), (first + KEY_INTERVAL, share)]


def available(ctx) -> bool:
    """Whether the request's footage is a video or image sequence whose key frames the engine can decode."""
    return ctx.footage is not None


def frame_statistics(net, ctx, index: int, style, factor: float) -> list[Statistics]:
    """The statistics crops of footage frame `index` are normalised with, by `net` (the fast network: `style`
    its (26,) weights; or the arbitrary network: its (100,) style vector) at `factor` of the frame's resolution:
    per norm, (mean, var) as `net.layer_statistics` gives them. Needs `available(ctx)`."""
    own = _signature(ctx, index)
    keys = []
    for key, weight in key_frames(index):
        try:
            same_shot = key == index or not cuts.is_cut(_signature(ctx, key), own)
        except SourceError:  # past the footage's end
            continue
        if same_shot:
            keys.append((key, weight))
    if not keys:
        keys = [(index, 1.0)]
    total = sum(weight for _, weight in keys)
    found = [(_key_statistics(net, ctx, key, style, factor), weight / total) for key, weight in keys]
    return [tuple(sum(stats[n][j] * weight for stats, weight in found) for j in (0, 1))
            for n in range(len(found[0][0]))]


def layer_statistics(net, image: np.ndarray, style) -> list[Statistics]:
    """The statistics of `net` (the fast network under torch or onnxruntime, or the arbitrary network) over
    `image` (float32 HxWx3 in [0, 1]) in `style`, as `frame_statistics` gives them."""
    if isinstance(net, torch.nn.Module):
        device = next(net.parameters()).device
        with torch.inference_mode():
            return net.layer_statistics(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device),
                                        style[None].to(device))
    return net.layer_statistics(image, style)


def _key_statistics(net, ctx, index: int, style, factor: float) -> list[Statistics]:
    key = ("key_statistics", type(net).__name__, *ctx.footage_identity(index), index, tuple(style.tolist()), factor)
    return ctx.models.memo(key, lambda: (
        layer_statistics(net, resized(_frame(ctx, index).astype(np.float32) / 255.0, factor), style)))


def _signature(ctx, index: int) -> np.ndarray:
    if index == ctx.index:
        return cuts.colour_signature(ctx.frame_uint8)
    key = ("key_signature", *ctx.footage_identity(index), index)
    return ctx.models.memo(key, lambda: cuts.colour_signature(_frame(ctx, index)))


def _frame(ctx, index: int) -> np.ndarray:
    """uint8 HxWx3 RGB footage frame `index` (the shot keeps the last one decoded, which serves every style), read
    on a stream of its own so that the render's reads stay sequential; raises SourceError past the footage's end."""
    if index == ctx.index:
        return ctx.frame_uint8
    previous = ctx.previous_frame() if index == ctx.index - 1 else None
    if previous is not None:
        return previous
    footage = ctx.footage_identity(index)
    if ctx.shot.key_frame is None or ctx.shot.key_frame[:2] != (footage, index):
        ctx.shot.key_frame = footage, index, ctx.frames.frame(ctx.footage, index, stream="keys")
    return ctx.shot.key_frame[2]

