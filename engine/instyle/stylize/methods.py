"""Rendering pieces of a frame in given styles, with the stage's controls (strength, colour, style scale,
working resolution) applied: one function per method, all behind :func:`render`.

A fixed style (or a mix of them) always renders with the 26-style network. A style image renders with the
chosen method: arbitrary (the offline Magenta network), adain (downloaded weights) or optimise (Gatys with the
masked style loss); `fast` has no image input, so a style image under `fast` renders with arbitrary.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..ops.colour import luminance_only, match_colours
from ..wire.params import ParamError
from .styles import StyleRef

IMAGE_METHODS = {"fast": "arbitrary", "arbitrary": "arbitrary", "adain": "adain", "optimise": "optimise"}
MIN_SIDE = 16
STYLE_IMAGE_MAX_SIDE = 1024


@dataclass
class Piece:
    """One thing to stylize: `image` float32 hxwx3 sRGB in [0, 1] (a crop or the frame) in style `ref`;
    `mask` (float32 hxw in [0, 1]) is where the style matters (the optimise method fits it there), None for
    everywhere; `frame`, for a crop in a style that is `frame_normalised`, the index of the footage frame it is
    cut from: the network normalises it with that frame's statistics (`key_statistics`), so that it looks as the
    whole frame does there, whatever its bounds (None: with the piece's own, as the published network does)."""

    image: np.ndarray
    ref: StyleRef
    mask: np.ndarray | None = None
    frame: int | None = None


def method_of(ref: StyleRef, params: dict) -> str:
    """The method that renders `ref`: "fast" for fixed styles, else the image method `params` choose."""
    return IMAGE_METHODS[params["method"]] if ref.is_image else "fast"


def frame_normalised(ref: StyleRef, params: dict) -> bool:
    """Whether crops in `ref` are normalised with their footage frame's statistics (see `Piece`): the fast
    network's always, the arbitrary network's when its style vector does not depend on the crop (strength 1,
    the style's colours not matched to the crop's)."""
    method = method_of(ref, params)
    return method == "fast" or (method == "arbitrary" and params["strength"] >= 1.0
                                and params["colour"] != "histogram")


def render(pieces: list[Piece], params: dict, scale: float, ctx) -> list[np.ndarray]:
    """Each piece stylized, at its own size: float32 hxwx3 in [0, 1].

    `scale` (<= 1) is the working resolution relative to the frame; the feed-forward networks run at
    scale / style_scale, so larger style scales give larger strokes. Strength and colour preservation are
    applied here (strength by each method's own means where it has one).
    """
    out: list[np.ndarray | None] = [None] * len(pieces)
    groups: dict[str, list[int]] = defaultdict(list)
    for k, piece in enumerate(pieces):
        groups[method_of(piece.ref, params)].append(k)
    for method, indices in groups.items():
        chosen = [pieces[k] for k in indices]
        for k, image in zip(indices, _METHODS[method](chosen, params, scale, ctx)):
            out[k] = image
    if params["colour"] == "luminance":
        out = [luminance_only(p.image, o) for p, o in zip(pieces, out)]
    return out


def network_factor(params: dict, scale: float) -> float:
    """The size the feed-forward networks see a piece at, relative to the frame: the working `scale` (<= 1) over
    the node's `style_scale` (larger style scales give larger strokes)."""
    return scale / params["style_scale"]


def resized(image: np.ndarray, factor: float) -> np.ndarray:
    """`image` (hxw or hxwxC) at `factor` of its size, each side at least MIN_SIDE (the networks' padding needs
    that much: a 2x2 image is worked on at 16x16)."""
    h, w = image.shape[:2]
    size = (max(round(w * factor), MIN_SIDE), max(round(h * factor), MIN_SIDE))
    if abs(factor - 1.0) < 1e-6 and size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


def _back(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    h, w = like.shape[:2]
    return image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def _mix(piece: Piece, stylized: np.ndarray, strength: float) -> np.ndarray:
    return stylized if strength >= 1.0 else cv2.addWeighted(piece.image, 1.0 - strength, stylized, strength, 0.0)


def _fast(pieces: list[Piece], params: dict, scale: float, ctx) -> list[np.ndarray]:
    """The 26-style network; on a GPU, pieces of equal working size run as one batch, each row in its own
    style."""
    from ..models.fast_style import style_vector
    from ..models.fast_style_onnx import OnnxFastStyle

    factor = network_factor(params, scale)
    inputs = [resized(p.image, factor) for p in pieces]
    styles = [style_vector(dict(p.ref.weights)) for p in pieces]
    net = ctx.models.fast_style()
    statistics = _frame_statistics(net, pieces, styles, factor, ctx)
    if isinstance(net, OnnxFastStyle):
        results = [np.clip(net(image, style, stats), 0, 1) for image, style, stats in zip(inputs, styles, statistics)]
    else:
        results = _batched(net, inputs, styles, statistics, ctx.models.device)
    out = [_back(result, p.image) for result, p in zip(results, pieces)]
    if params["colour"] == "histogram":
        out = [match_colours(o, p.image) for o, p in zip(out, pieces)]
    return [_mix(p, o, params["strength"]) for p, o in zip(pieces, out)]


def _frame_statistics(net, pieces: list[Piece], styles: list, factor: float, ctx) -> list:
    """For each crop, the statistics of its footage frame in its style (a style vector,
    `key_statistics.crop_statistics`, which also takes ahead those of frames to come); None for the others."""
    from . import key_statistics

    wanted = {(piece.frame, tuple(style.tolist())): (piece.frame, style)
              for piece, style in zip(pieces, styles) if piece.frame is not None}
    found = dict(zip(wanted, key_statistics.crop_statistics(net, ctx, list(wanted.values()), factor)))
    return [found.get((piece.frame, tuple(style.tolist()))) for piece, style in zip(pieces, styles)]


def take_ahead(ref: StyleRef, params: dict, scale: float, ctx) -> None:
    """Take ahead the key-frame statistics that crops in `ref`, a style no crop of the frame is in yet, would
    need (`key_statistics.look_ahead`, expected); for fixed styles (an image style's vector is the arbitrary
    network's encoding of it, not taken ahead)."""
    from ..models.fast_style import style_vector
    from . import key_statistics

    if method_of(ref, params) == "fast":
        key_statistics.look_ahead(ctx.models.fast_style(), ctx, [style_vector(dict(ref.weights))],
                                  network_factor(params, scale), expected=True)


def _batched(net, inputs: list[np.ndarray], styles: list[torch.Tensor], statistics: list, device) -> list[np.ndarray]:
    """FastStyleNet on images (float32 hxwx3) grouped by size (and by whether they bring norm statistics) into
    batches, each row in its style (26,) and with its statistics."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for k, image in enumerate(inputs):
        groups[(image.shape[:2], statistics[k] is None)].append(k)
    out: list[np.ndarray | None] = [None] * len(inputs)
    for (_, own), indices in groups.items():
        batch = torch.from_numpy(np.stack([inputs[k] for k in indices])).permute(0, 3, 1, 2).to(device)
        given = None if own else [tuple(torch.cat([statistics[k][n][j] for k in indices]) for j in (0, 1))
                                  for n in range(len(statistics[indices[0]]))]
        with torch.inference_mode():
            result = net(batch, torch.stack([styles[k] for k in indices]).to(device), given)
        for row, k in zip(result.clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy(), indices):
            out[k] = row
    return out


def style_image(ref: StyleRef, ctx) -> np.ndarray:
    """The style image of `ref`, float32 hxwx3 RGB in [0, 1], its long side at most 1024; read once per file
    version (path, mtime, size)."""
    def read():
        data = cv2.imread(ref.image, cv2.IMREAD_COLOR)
        if data is None:
            raise ParamError(f"the style image {ref.image} cannot be read: it is not an image OpenCV decodes "
                             "(use PNG, JPEG, TIFF, EXR or WebP)")
        rgb = cv2.cvtColor(data, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        return resized(rgb, min(1.0, STYLE_IMAGE_MAX_SIDE / max(rgb.shape[:2])))
    return ctx.models.memo(("style_image", *ref.image_key()), read)


def _style_for(piece: Piece, params: dict, ctx) -> np.ndarray:
    """The style image as a method sees it: with the piece's colours under colour = histogram."""
    image = style_image(piece.ref, ctx)
    return match_colours(image, piece.image) if params["colour"] == "histogram" else image


def _encoded(piece: Piece, params: dict, ctx, key: tuple, encode):
    """`encode(style image)` for the piece's style image as its method sees it (see `_style_for`), kept under
    `key` and the image's version, except under colour = histogram, where it depends on the piece."""
    if params["colour"] == "histogram":
        return encode(_style_for(piece, params, ctx))
    return ctx.models.memo((*key, *piece.ref.image_key()), lambda: encode(style_image(piece.ref, ctx)))


def _arbitrary(pieces: list[Piece], params: dict, scale: float, ctx) -> list[np.ndarray]:
    """Magenta's arbitrary network; strength interpolates the style vector towards the content's own."""
    net = ctx.models.arbitrary_style()
    factor, strength = network_factor(params, scale), params["strength"]
    contents, vectors = [], []
    for piece in pieces:
        vector = _encoded(piece, params, ctx, ("arbitrary",), net.encode)
        contents.append(resized(piece.image, factor))
        if strength < 1.0:
            vector = strength * vector + (1.0 - strength) * net.encode(contents[-1])
        vectors.append(vector)
    statistics = _frame_statistics(net, pieces, vectors, factor, ctx)
    return [np.clip(_back(net.render(content, vector, stats), piece.image), 0.0, 1.0)
            for piece, content, vector, stats in zip(pieces, contents, vectors, statistics)]


def _adain(pieces: list[Piece], params: dict, scale: float, ctx) -> list[np.ndarray]:
    """AdaIN; strength is its content/style trade-off alpha (0: the content re-decoded)."""
    from ..models.adain import adaptive_instance_normalization

    net, device = ctx.models.adain(), ctx.models.device
    factor = network_factor(params, scale)

    def encode(image: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return net.encoder(_tensor(image, device), ("relu4_1",))["relu4_1"]
    out = []
    for piece in pieces:
        style = _encoded(piece, params, ctx, ("adain",), encode)
        content = resized(piece.image, factor)
        with torch.inference_mode():
            feat = net.encoder(_tensor(content, device), ("relu4_1",))["relu4_1"]
            mixed = params["strength"] * adaptive_instance_normalization(feat, style) + (1 - params["strength"]) * feat
            result = net.decoder(mixed)[..., :content.shape[0], :content.shape[1]]
        out.append(_back(_numpy(result.clamp(0, 1)), piece.image))
    return out


def _optimise(pieces: list[Piece], params: dict, scale: float, ctx) -> list[np.ndarray]:
    """Gatys optimisation with the masked style loss at the working resolution; progress is reported per
    iteration over all pieces and the request can be cancelled between iterations."""
    from .optimise import optimise, style_grams

    features, device = ctx.models.vgg_features(params["features"]), ctx.models.device
    iterations, total = params["iterations"], params["iterations"] * len(pieces)
    out = []
    for n, piece in enumerate(pieces):
        content = resized(piece.image, scale)
        side = min(max(content.shape[:2]) * params["style_scale"], STYLE_IMAGE_MAX_SIDE)

        def encode(image: np.ndarray, side: float = side) -> dict[str, torch.Tensor]:
            return style_grams(features, _tensor(resized(image, side / max(image.shape[:2])), device))
        grams = _encoded(piece, params, ctx, ("grams", params["features"], side), encode)
        mask = None
        if piece.mask is not None:
            mask = torch.from_numpy(np.ascontiguousarray(resized(piece.mask, scale)))[None, None].to(device)

        def on_step(i: int, _: int, done: int = n * iterations) -> None:
            ctx.check_cancelled()
            ctx.report_step(done + i, total)
        result = optimise(_tensor(content, device), grams, mask, features, iterations, params["style_weight"],
                          on_step)
        out.append(_mix(piece, _back(_numpy(result), piece.image), params["strength"]))
    return out


def _tensor(image: np.ndarray, device) -> torch.Tensor:
    """float32 hxwx3 -> (1, 3, h, w) on `device`."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(device)


def _numpy(image: torch.Tensor) -> np.ndarray:
    """(1, 3, h, w) -> float32 hxwx3 on the CPU."""
    return image[0].permute(1, 2, 0).float().cpu().numpy()


_METHODS = {"fast": _fast, "arbitrary": _arbitrary, "adain": _adain, "optimise": _optimise}
