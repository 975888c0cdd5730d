"""Saving keeps the work done: the first save and Save As carry the cached frames to the file's cache folder."""

from __future__ import annotations

from pathlib import Path

import bpy

from ..conftest import VTEST
from .conftest import ADDON


def render_and_count_computed(fresh, scene, out: Path) -> int:
    """Render the scene's frames; returns how many frames the engine had to compute."""
    fresh.render_hooks.last_replies.clear()
    scene.render.filepath = str(out / "######")
    bpy.ops.render.render(animation=True)
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    return sum(len(replies) for replies in fresh.render_hooks.last_replies.values())


def test_the_first_save_and_save_as_keep_the_cached_frames(fresh, tmp_path):
    bpy.context.preferences.addons[ADDON].preferences.cache_dir = "//instyle_cache"
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 2)
    assert "This file is not saved" in fresh.saving.unsaved_warning()
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    temporary = fresh.paths.cache_root()
    assert temporary.is_relative_to(Path(bpy.app.tempdir))
    nodes = [graph[n] for n in ("instance_mask", "instance_tracker", "neural_style", "mrf_blend")]
    files = [Path(node.cache_id) / "alpha" / "000002.exr" for node in nodes[-1:]]
    assert all((temporary / f).is_file() for f in files)

    (tmp_path / "a").mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "a" / "shot.blend"))
    assert fresh.saving.unsaved_warning() == ""
    assert all((tmp_path / "a" / "instyle_cache" / f).is_file() for f in files)
    assert not any((temporary / node.cache_id).exists() for node in nodes)  # moved, not copied
    assert render_and_count_computed(fresh, scene, tmp_path / "frames-a") == 0
    assert all(node.status == "Frame 2: cached" for node in nodes), [node.status for node in nodes]

    (tmp_path / "b").mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "b" / "shot.blend"))
    for folder in ("a", "b"):  # Save As copies: the first file keeps its frames
        assert all((tmp_path / folder / "instyle_cache" / f).is_file() for f in files), folder
    assert render_and_count_computed(fresh, scene, tmp_path / "frames-b") == 0
    graph["mrf_blend"].band = 12.0  # and the copy is a cache like any other: a change recomputes
    assert render_and_count_computed(fresh, scene, tmp_path / "frames-b2") == 2
    assert (tmp_path / "a" / "instyle_cache" / files[0]).is_file()
