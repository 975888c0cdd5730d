"""Preview images of the 26 fixed styles: one photo rendered in each, for the add-on's style picker and the
docs' contact sheet."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..wire.fixed_styles import STYLE_NAMES
from ..wire.params import ParamError
from ..wire.stage_specs import NEURAL_STYLE
from .methods import Piece, render
from .styles import parse_style

RENDER_SIDE = 384


def previews(image: np.ndarray, ctx, size: int = 128) -> dict[str, np.ndarray]:
    """{style name: uint8 size x size x 3 RGB}: the centred square of `image` (float32 HxWx3 RGB in [0, 1]) in
    every fixed style at full strength, rendered at 384 pixels (strokes as on footage) and shrunk to `size`."""
    h, w = image.shape[:2]
    side = min(h, w)
    square = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    square = cv2.resize(square, (RENDER_SIDE, RENDER_SIDE), interpolation=cv2.INTER_AREA)
    pieces = [Piece(square, parse_style(name, "previews")) for name in STYLE_NAMES]
    rendered = render(pieces, NEURAL_STYLE.resolve({}), 1.0, ctx)
    return {name: np.round(cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA) * 255).astype(np.uint8)
            for name, out in zip(STYLE_NAMES, rendered)}


def write_previews(image_path: Path, out: Path, ctx, size: int = 128) -> list[Path]:
    """`out`/styleNN.png for every fixed style, and `out`/sheet.jpg with all of them labelled; the paths written."""
    data = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if data is None:
        raise ParamError(f"cannot read {image_path} as an image; give a photo (PNG, JPEG, ...)")
    images = previews(cv2.cvtColor(data, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0, ctx, size)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    tiles = []
    for name, rgb in images.items():
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        path = out / f"{name}.png"
        cv2.imwrite(str(path), bgr)
        written.append(path)
        tile = cv2.copyMakeBorder(bgr, 0, 22, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(tile, name, (4, size + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % 9)
    sheet = np.vstack([np.hstack(tiles[r:r + 9]) for r in range(0, len(tiles), 9)])
    cv2.imwrite(str(out / "sheet.jpg"), sheet, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return [*written, out / "sheet.jpg"]
