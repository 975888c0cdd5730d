"""Paintings as Image datablocks, and the file the engine reads for each: the engine reads style images from
files, never Blender's pixels.

An image of a file is sent as that file's absolute path (a `//` path is resolved against the .blend, which must
be saved first). A packed image is written, once, into the cache folder under a name made from its content
(`<cache>/paintings/<sha1>.<ext>`: the same bytes give the same path, so cached frames stay valid), and sent as
that copy. An image with no file (generated or painted in Blender and never saved) is refused with the fix.
Unsaved edits to an image of a file are not seen: the engine reads the file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import bpy

from . import paths
from .style_table import StyleTextError, absolute

PAINTINGS = "paintings"


def is_painting(image) -> bool:
    """Whether the picker offers `image`: an image of one file (or packed), not a movie, a sequence such as
    instyle's own cache readers, a render result or an image made in Blender and never saved."""
    return image.source == "FILE"


def image_file(image, where: str) -> str:
    """The absolute path of the file the engine reads for `image` (an Image datablock; "" for None); raises
    StyleTextError, naming `where`, for an image with no file to read."""
    if image is None:
        return ""
    if image.packed_file is not None:
        suffix = Path(image.filepath).suffix or f".{image.file_format.lower()}"
        return str(stored_copy(image.packed_file.data, suffix, paths.cache_root() / PAINTINGS))
    if image.source != "FILE" or not image.filepath:
        raise StyleTextError(f"{where}: the image {image.name!r} has no file (it was made in Blender); save it "
                             "(Image > Save As) or pack it, or pick an image file")
    return absolute(image.filepath, lambda text: bpy.path.abspath(text, library=image.library), where)


def stored_copy(data: bytes, suffix: str, folder: Path) -> Path:
    """`folder`/<sha1 of `data`><`suffix`>, written (whole, by a rename) unless it is there already."""
    path = folder / f"{hashlib.sha1(data).hexdigest()}{suffix.lower()}"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, path)
    return path
