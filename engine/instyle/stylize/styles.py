"""Style references as artists write them, parsed once into what a style method needs.

A style is written as one of:

* a fixed style's name, ``style07`` (the 26-style network);
* a mix of fixed styles, ``style03+style07`` (equal shares) or ``style03*0.3+style07*0.7``;
* a path to an image file (any painting), for the methods that take a style image.

Maps from ids or classes to styles are written ``KEY=STYLE`` separated by ``;``:
``1=style05; 4=/art/kandinsky.jpg`` or ``person=style03; car=style19``. A key that is not a track id or not a
COCO class, like a style that is neither a fixed style nor an image file, is an error naming it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..wire.coco import COCO_CLASSES
from ..wire.fixed_styles import STYLE_NAMES
from ..wire.params import ParamError

MAX_MIX = 8


@dataclass(frozen=True)
class StyleRef:
    """One parsed style: `weights` (name -> share, summing to 1) for fixed styles, else `image` (a path)."""

    text: str
    weights: tuple[tuple[str, float], ...] = ()
    image: str = ""

    @property
    def is_image(self) -> bool:
        return bool(self.image)

    def image_key(self) -> tuple[str, int, int]:
        """(path, mtime_ns, size) of the style image: what an encoded style is cached under."""
        stat = os.stat(self.image)
        return self.image, stat.st_mtime_ns, stat.st_size


def parse_style(text: str, where: str) -> StyleRef:
    """A StyleRef for `text` (see the module doc); ParamError naming `where` if it is neither a fixed style
    (or mix of them) nor an existing image file."""
    text = text.strip()
    if not text:
        raise ParamError(f"{where}: empty style")
    parts = [p.strip() for p in text.split("+")]
    if all(p.split("*")[0].strip() in STYLE_NAMES for p in parts):
        if len(parts) > MAX_MIX:
            raise ParamError(f"{where}: a mix has at most {MAX_MIX} styles")
        weights: dict[str, float] = {}
        for part in parts:
            name, _, share = (s.strip() for s in part.partition("*"))
            try:
                value = float(share) if share else 1.0
            except ValueError:
                raise ParamError(f"{where}: {share!r} in {text!r} is not a number; write style03*0.3+style07*0.7")
            if not 0.0 <= value < float("inf"):
                raise ParamError(f"{where}: the share of {name} in {text!r} must be a non-negative number")
            weights[name] = weights.get(name, 0.0) + value
        total = sum(weights.values())
        if total <= 0:
            raise ParamError(f"{where}: the shares in {text!r} sum to zero")
        return StyleRef(text, tuple((n, v / total) for n, v in weights.items()))
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ParamError(f"{where}: {text!r} is neither a fixed style (style00..style25, or a mix such as "
                         "style03+style07) nor an absolute path to a style image")
    if not path.is_file():
        raise ParamError(f"{where}: the style image {text} does not exist; pick an existing image file")
    return StyleRef(text, image=str(path))


def parse_map(text: str, where: str, key_kind: str) -> dict:
    """`KEY=STYLE; ...` as {key: StyleRef}; keys are ints for `key_kind` "id", COCO class names for "class"."""
    out = {}
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        key, sep, style = entry.partition("=")
        if not sep:
            raise ParamError(f"{where}: {entry!r} is not KEY=STYLE; write e.g. "
                             + ("'1=style05; 4=style11'" if key_kind == "id" else "'person=style03; car=style19'"))
        key = key.strip()
        if key_kind == "id":
            if not key.isdigit() or int(key) < 1:
                raise ParamError(f"{where}: {key!r} is not a track id (a whole number from 1)")
            key = int(key)
        elif key not in COCO_CLASSES:
            raise ParamError(f"{where}: {key!r} is not a class; write one of: {', '.join(COCO_CLASSES)}")
        out[key] = parse_style(style, f"{where}[{key}]")
    return out
