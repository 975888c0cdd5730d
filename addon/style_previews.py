"""Preview icons of the 26 fixed styles for the Neural Style node's picker: the zip's previews/styleNN.png (made
by `instyle-engine styles`), loaded with bpy.utils.previews while the add-on is enabled. A zip built without
them has no previews, and the node shows the styles by name."""

from __future__ import annotations

from pathlib import Path

import bpy.utils.previews

from .wire.fixed_styles import STYLE_NAMES

FOLDER = Path(__file__).with_name("previews")

_collection = None


def load(folder: Path = FOLDER) -> None:
    """Load `folder`/styleNN.png for every fixed style that has one (none when the folder is missing)."""
    global _collection
    free()
    found = [(name, folder / f"{name}.png") for name in STYLE_NAMES if (folder / f"{name}.png").is_file()]
    if found:
        _collection = bpy.utils.previews.new()
        for name, path in found:
            _collection.load(name, str(path), "IMAGE")


def free() -> None:
    global _collection
    if _collection is not None:
        bpy.utils.previews.remove(_collection)
        _collection = None


def previews() -> dict:
    """{style name: bpy.types.ImagePreview} of the loaded previews; empty without them."""
    return dict(_collection) if _collection is not None else {}


def icon_id(name: str) -> int:
    """The icon id of style `name`'s preview; 0 (no icon) without one, and always in background mode, where
    Blender makes no icons."""
    return _collection[name].icon_id if _collection is not None and name in _collection else 0
