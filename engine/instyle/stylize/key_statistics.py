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

A key frame's statistics cost a whole-frame pass per style (about half a steady frame's time at 768x576 on a
CPU). Rendering in order, the frame after key frame k needs key frame k + KEY_INTERVAL in every style at once,
so those are taken ahead (`look_ahead`): by the last frames of the interval before, one pass each, and by a
shot's first request when it is a key frame itself (its next frame would need them all); and, one pass on a
frame that took none, the current key frames in a style the next track will take (`stages.neural_style`). A
frame rendered out of order takes only what it needs; a key frame past the footage's end or in another shot is
never taken ahead. What is taken is what the frames that need it would take: results do not change.
"""

from __future__ import annotations

import numpy as np
import torch

from ..media import SourceError
from ..frame_state import NO_REQUEST
from ..models.fast_style import Statistics
from ..models.zoo import MEMO_ENTRIES
from ..ops import cuts
from .methods import resized

KEY_INTERVAL = 24
SPARE_FRAMES = 4
"""Rendering in order, a key frame's statistics are taken ahead one pass a frame, to be done this many frames
before it is needed: a frame whose own statistics take a pass (a style that appears) leaves its turn to them."""


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
    keys = _keys(ctx, index)
    total = sum(weight for _, weight in keys)
    found = [(_key_statistics(net, ctx, key, style, factor), weight / total) for key, weight in keys]
    return [tuple(sum(stats[n][j] * weight for stats, weight in found) for j in (0, 1))
            for n in range(len(found[0][0]))]


def crop_statistics(net, ctx, wanted: list[tuple[int, object]], factor: float) -> list[list[Statistics]]:
    """`frame_statistics` of each (footage frame index, style) in `wanted`; then the statistics `look_ahead`
    takes for the styles wanted on the request's own frame."""
    found = [frame_statistics(net, ctx, index, style, factor) for index, style in wanted]
    look_ahead(net, ctx, [style for index, style in wanted if index == ctx.index], factor)
    return found


def look_ahead(net, ctx, styles: list, factor: float, expected: bool = False) -> None:
    """Take ahead, in `styles`, the statistics of key frames that frames after the request's own will need
    when the shot renders in order: when its last request was the frame before, key frame k + KEY_INTERVAL
    (needed from frame k + 1 on) and k + 2 * KEY_INTERVAL, k the key frame at or before the request's frame;
    when this is the shot's first request and a key frame k, k + KEY_INTERVAL (the next frame would need it in
    every style at once). Soonest first, one pass a frame over the last frames before it is needed (one per
    missing style and SPARE_FRAMES more: a render that stops before needs few of them), none on a frame that
    took a pass already (`ctx.key_passes`), and all that are missing on the frame before the first that needs
    them. `expected` styles are not used yet (a style the next track will take):
    key frames k and k + KEY_INTERVAL, which a frame of the interval would need in it at once, one pass, on a
    frame in order that took none. A key frame past the footage's end or in another shot than the request's
    frame is skipped, as is everything when the memo cannot hold three key frames' statistics in every style."""
    first = ctx.index - ctx.index % KEY_INTERVAL
    if ctx.shot.last_index == ctx.index - 1:
        ahead = (first, first + KEY_INTERVAL) if expected else (first + KEY_INTERVAL, first + 2 * KEY_INTERVAL)
    elif ctx.shot.last_index == NO_REQUEST and first == ctx.index and not expected:
        ahead = first + KEY_INTERVAL,
    else:
        return
    if not styles or 3 * (len(styles) + 1) > MEMO_ENTRIES // 2 or (expected and ctx.key_passes):
        return
    styles = list({tuple(style.tolist()): style for style in styles}.values())
    own, reads = None, dict(ctx.reads)
    try:  # the request's result is not made from the frames read here (`StageContext.reads`)
        for key in ahead:
            missing = [style for style in styles if not ctx.models.memoized(_memo_key(net, ctx, key, style, factor))]
            left = key - KEY_INTERVAL + 1 - ctx.index  # frames before the first that needs it, this one included
            if not missing or not expected and (left < 1 or left > len(missing) + SPARE_FRAMES
                                                or (ctx.key_passes and left > 1)):
                continue
            own = _signature(ctx, ctx.index) if own is None else own
            signature = _signature(ctx, key)
            if signature is None or cuts.is_cut(signature, own):
                continue
            for style in missing[:len(missing) if left == 1 and not expected else 1]:
                _key_statistics(net, ctx, key, style, factor)
            return
    finally:
        ctx.reads.clear()
        ctx.reads.update(reads)


def layer_statistics(net, image: np.ndarray, style) -> list[Statistics]:
    """The statistics of `net` (the fast network under torch or onnxruntime, or the arbitrary network) over
    `image` (float32 HxWx3 in [0, 1]) in `style`, as `frame_statistics` gives them."""
    if isinstance(net, torch.nn.Module):
        device = next(net.parameters()).device
        with torch.inference_mode():
            return net.layer_statistics(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device),
                                        style[None].to(device))
    return net.layer_statistics(image, style)


def _keys(ctx, index: int) -> list[tuple[int, float]]:
    """The key frames frame `index` takes its statistics from, with their weights: `key_frames` in its shot, or
    the frame itself."""
    own = _signature(ctx, index)
    if own is None:  # a frame the engine cannot read: reading it for its statistics says why
        return [(index, 1.0)]
    keys = []
    for key, weight in key_frames(index):
        signature = own if key == index else _signature(ctx, key)
        if signature is not None and (key == index or not cuts.is_cut(signature, own)):
            keys.append((key, weight))
    return keys or [(index, 1.0)]


def _memo_key(net, ctx, index: int, style, factor: float) -> tuple:
    return "key_statistics", type(net).__name__, *ctx.footage_identity(index), index, tuple(style.tolist()), factor


def _key_statistics(net, ctx, index: int, style, factor: float) -> list[Statistics]:
    def take():
        ctx.key_passes += 1
        return layer_statistics(net, resized(_frame(ctx, index).astype(np.float32) / 255.0, factor), style)
    return ctx.models.memo(_memo_key(net, ctx, index, style, factor), take)


def _signature(ctx, index: int) -> np.ndarray | None:
    """`cuts.colour_signature` of footage frame `index`; None past the footage's end (kept, as a signature is,
    so that the frames that ask again do not open the footage again)."""
    if index == ctx.index:
        return cuts.colour_signature(ctx.frame_uint8)

    def read():
        try:
            return cuts.colour_signature(_frame(ctx, index))
        except SourceError:
            return None
    return ctx.models.memo(("key_signature", *ctx.footage_identity(index), index), read)


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

