"""Where the cache lives for the current .blend (the preference, resolved against the file's folder)."""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from .wire.cache_files import frame_name

ADDON_ID = __package__


def preferences():
    addon = bpy.context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


def cache_setting() -> str:
    prefs = preferences()
    return (prefs.cache_dir if prefs and prefs.cache_dir else "") or os.environ.get("INSTYLE_CACHE_DIR", "") \
        or "//instyle_cache"


def cache_root() -> Path:
    """Absolute cache folder; a `//` path with an unsaved .blend falls back to Blender's temporary folder."""
    setting = cache_setting()
    if setting.startswith("//") and not bpy.data.filepath:
        return temporary_root() / setting[2:]
    return Path(bpy.path.abspath(setting))


def temporary_root() -> Path:
    """Blender's temporary folder for this session, where a file never saved keeps its `//` cache."""
    return Path(bpy.app.tempdir or "/tmp")


def node_dir(cache_id: str) -> Path:
    return cache_root() / cache_id


def strip_dir(cache_id: str, strip_key: str) -> Path:
    """A node's own cache for one strip that runs it (see `sequencer.StripFootage`), inside the node's folder."""
    return node_dir(cache_id) / "strips" / strip_key


def frame_one(cache_id: str, output: str) -> str:
    """The path an inner Image node is given for an output (frame 1 of its sequence), `//`-relative if possible."""
    setting = cache_setting()
    base = setting.rstrip("/") if setting.startswith("//") and bpy.data.filepath else str(cache_root())
    return f"{base}/{cache_id}/{output}/{frame_name(1)}"
