"""Live preview: frame changes and edits compute the visible frame without a render (real Blender and engine).

Timers do not run with bpy as a module, so the test calls the preview's timer function itself, as Blender's
event loop would."""

from __future__ import annotations

import time

import bpy
import numpy as np

from ..conftest import VTEST
from .conftest import read_exr


def pump(preview, until, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the preview did not finish"
        preview.tick()
        time.sleep(0.05)


def test_a_frame_change_and_an_edit_compute_the_visible_frame_without_a_render(fresh, monkeypatch):
    monkeypatch.setattr(fresh.preview, "active", True)
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 5)
    blend = graph["mrf_blend"]
    alpha = lambda frame: fresh.paths.node_dir(blend.cache_id) / "alpha" / f"{frame:06d}.exr"  # noqa: E731

    scene.frame_set(3)
    scene.frame_set(2)  # within the debounce time: only frame 2 is computed
    pump(fresh.preview, lambda: blend.status.startswith("Frame 2: computed in"))
    assert blend.status.endswith("; 1 of 5 frames cached"), blend.status
    assert alpha(2).is_file() and not alpha(3).exists() and not alpha(1).exists()
    assert all(graph[n].status.startswith("Frame 2: computed in") for n in ("instance_mask", "neural_style"))
    narrow, made = read_exr(alpha(2)), alpha(2).stat().st_mtime_ns

    blend.band = 30.0
    bpy.context.view_layer.update()  # an edit reaches Blender's dependency graph, as in the UI
    pump(fresh.preview, lambda: alpha(2).is_file() and alpha(2).stat().st_mtime_ns != made
         and blend.status.startswith("Frame 2: computed in"))
    wide = read_exr(alpha(2))
    soft = lambda a: ((a > 0) & (a < 1)).sum()  # noqa: E731
    assert soft(wide) > 1.5 * soft(narrow)
    assert not fresh.render_hooks.last_replies, "a render ran"

    scene.render.filepath = str(fresh.paths.cache_root() / "render.png")
    bpy.ops.render.render(write_still=True)  # a render of the current frame reads the previewed frame
    assert fresh.render_hooks.last_replies == {2: []}
    assert not np.array_equal(wide, narrow)
