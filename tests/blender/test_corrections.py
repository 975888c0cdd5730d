"""Corrections invalidate only the frames they change, in real Blender: a person added with a Mask on a shot with a
cut is followed up to the cut, so rendering again computes only those frames (the others come from the cache,
their files untouched) and matches a render from scratch; removing the person brings back the first render."""

from __future__ import annotations

import subprocess

import bpy
import numpy as np

from ..conftest import CUT_CLIP, ENGINE_PYTHON, ROOT
from .conftest import ADDON, read_png, view
from .test_added_people import draw_mask, octagon
from .test_track_analysis import ids_in, tracks_pass

FRAMES = sum(CUT_CLIP)  # scene frames 1-3 show vtest.avi, 4-5 the still after the cut
DRAWN_ON = 2
NODES = ("instance_mask", "instance_tracker", "neural_style", "mrf_blend")


def render(addon, scene, folder) -> list[int]:
    """Render the scene's frames in order into `folder`; the frames the engine computed (the others were cached)."""
    scene.render.filepath = str(folder / "######")
    bpy.ops.render.render(animation=True)
    assert not addon.render_hooks.failures, addon.render_hooks.failures
    return [f for f in range(1, FRAMES + 1) if addon.render_hooks.last_replies[f]]


def cache_files(addon, graph, frame: int) -> dict[str, int]:
    """Every node's cached files of `frame`: path -> modification time (ns)."""
    return {str(p): p.stat().st_mtime_ns for name in NODES for p in
            addon.paths.node_dir(graph[name].cache_id).glob(f"*/{frame:06d}.exr")}


def same_pictures(one, other) -> bool:
    return all(np.array_equal(read_png(one / f"{f:06d}.png"), read_png(other / f"{f:06d}.png"))
               for f in range(1, FRAMES + 1))


def test_an_added_person_recomputes_only_the_frames_they_are_followed_through(fresh, tmp_path):
    clip = tmp_path / "cut.avi"
    subprocess.run([str(ENGINE_PYTHON), "-c", "import sys, pathlib; from tests.conftest import cut_clip; "
                    "cut_clip(pathlib.Path(sys.argv[1]))", str(clip)], cwd=ROOT, check=True)
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(clip), FRAMES)
    tracker = graph["instance_tracker"]
    view(tracker.outputs["Tracks"])  # `tracks_pass` reads it
    graph["neural_style"].palette = "style13"  # one style: one whole-frame pass per key frame (statistics), not four
    assert render(fresh, scene, tmp_path / "plain") == [1, 2, 3, 4, 5]

    tracks = tracks_pass(fresh, tracker, DRAWN_ON)
    target = max(ids_in(tracks), key=lambda t: (tracks == t).sum())
    scene.frame_set(DRAWN_ON)
    draw_mask("Missed", octagon(tracks == target), tuple(graph["source"].clip.size))
    assert bpy.ops.instyle.add_person(node=tracker.name, mask="Missed") == {"FINISHED"}
    before = {f: cache_files(fresh, graph, f) for f in range(1, FRAMES + 1)}
    assert render(fresh, scene, tmp_path / "added") == [1, 2, 3], "followed through the first shot, not past the cut"
    for f in range(1, FRAMES + 1):
        after = cache_files(fresh, graph, f)
        assert set(after) == set(before[f]) and len(after) == 3, f  # tracks, alpha and stylized_for_mix
        changed = {p for p in after if after[p] != before[f][p]}
        assert changed == (set(after) if f <= CUT_CLIP[0] else set()), f
        assert (1001 in ids_in(tracks_pass(fresh, tracker, f))) == (f <= CUT_CLIP[0]), f

    # from scratch: a fresh engine and an empty cache
    prefs = bpy.context.preferences.addons[ADDON].preferences
    cache_dir, prefs.cache_dir = prefs.cache_dir, str(tmp_path / "scratch_cache")
    fresh.engine_link.shutdown()
    assert render(fresh, scene, tmp_path / "scratch") == [1, 2, 3, 4, 5]
    assert same_pictures(tmp_path / "added", tmp_path / "scratch")

    prefs.cache_dir = cache_dir
    assert bpy.ops.instyle.remove_outline(node=tracker.name, collection="added_people", index=0) == {"FINISHED"}
    assert render(fresh, scene, tmp_path / "removed") == [1, 2, 3]
    assert same_pictures(tmp_path / "removed", tmp_path / "plain")
