"""Keeping the work done when the .blend is saved: a `//` cache folder follows the file, so on the first save (from
Blender's temporary folder) the cached frames move next to the .blend, and on Save As they are copied (hard links
where the disk allows) to the new file's cache folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import bpy
from bpy.app.handlers import persistent

from . import inner_tree, paths
from .nodes import is_instyle

_root_before_save: list[Path] = []


def unsaved_warning() -> str:
    """A warning for caching in a file never saved (its cache is temporary until the first save), or ""."""
    if bpy.data.filepath or not paths.cache_setting().startswith("//"):
        return ""
    return (f"This file is not saved: cached frames go to {paths.cache_root()} and move next to the .blend when "
            "you save it; they are lost if Blender quits first")


def instyle_nodes() -> list:
    """Every instyle node in the file's compositor node groups (the scene's and those of sequencer strips)."""
    return [n for tree in bpy.data.node_groups if tree.bl_idname == "CompositorNodeTree" for n in tree.nodes
            if is_instyle(n)]


def carry(old_root: Path, new_root: Path, move: bool) -> int:
    """Give `new_root` each node's cache folder found in `old_root` (moved when `move`, else hard-linked or
    copied file by file); folders already in `new_root` are kept. Returns how many folders were carried."""
    carried = 0
    for node in instyle_nodes():
        source, target = old_root / node.cache_id, new_root / node.cache_id
        if not source.is_dir() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(str(source), str(target))
        else:
            shutil.copytree(source, target, copy_function=_link_or_copy)
        carried += 1
    return carried


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@persistent
def on_save_pre(*_):
    _root_before_save[:] = [paths.cache_root()]


@persistent
def on_save_post(*_):
    if not _root_before_save:
        return
    old_root, new_root = _root_before_save.pop(), paths.cache_root()
    if old_root != new_root and old_root.is_dir():
        carry(old_root, new_root, move=old_root.is_relative_to(paths.temporary_root()))
    for node in instyle_nodes():
        if node.node_tree is not None:
            inner_tree.point_at(node.node_tree, node.cache_files())


HANDLERS = ((bpy.app.handlers.save_pre, on_save_pre), (bpy.app.handlers.save_post, on_save_post))


def register():
    for handlers, handler in HANDLERS:
        if handler not in handlers:
            handlers.append(handler)


def unregister():
    for handlers, handler in HANDLERS:
        if handler in handlers:
            handlers.remove(handler)
