"""Identities and styles per person in real Blender: a shot rendered out of order by two Blender processes at
once matches the render in order, and Analyze fills the Neural Style node's table, whose rows restyle one
person each."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import bpy
import numpy as np
import pytest

from ..conftest import ENGINE_PYTHON, OPENCV_DATA, VTEST
from .conftest import ADDON, read_exr, read_png, view
from .test_neural_style_node import drawn

FRAMES = 4
SHUFFLED = ([4, 2], [3, 1])  # the frames each of two farm processes renders, in this order
CORE = 6  # pixels of a person's region ignored along its edge (mask edges and the blend band)
# After a seek the Instance Mask stage starts its shot state afresh (boxes carried between detections, matte
# memory), so a frame rendered out of order has slightly different masks, and crops cut around them, than in
# order: per person, masks overlap by 0.92 or more. Crops are normalised with the frame's statistics, so their
# bounds hardly matter: up to 0.12 levels of difference inside, measured (6 to 10 when crops were normalised on
# their own). Another style on the same person changes it by 17 to 22 levels (the Analyze test below).
SAME_PERSON_LEVELS = 2.0

RENDER_FRAMES = """
import bpy, json, sys, addon_utils
addon_utils.enable({addon!r}, default_set=True)
bpy.context.preferences.addons[{addon!r}].preferences.engine_python = {python!r}
bpy.ops.wm.open_mainfile(filepath={blend!r})
scene, module = bpy.context.scene, sys.modules[{addon!r}]
for frame in {frames!r}:
    scene.frame_set(frame)
    scene.render.filepath = f"//frames/{{frame:06d}}"
    bpy.ops.render.render(write_still=True)
styles = {{f: {{i["track_id"]: i["style"] for i in module.render_hooks.last_replies[f][0]["instances"]}}
          for f in {frames!r}}}
json.dump(styles, open({out!r}, "w"))
module.engine_link.shutdown()
sys.exit(1 if module.render_hooks.failures else 0)
"""


def tracks_pass(addon, tracker, frame: int) -> np.ndarray:
    """int HxW: each pixel's track id (0: nobody), from the tracker's cached Tracks output."""
    return np.rint(read_exr(addon.paths.node_dir(tracker.cache_id) / "tracks" / f"{frame:06d}.exr")).astype(int)


def ids_in(tracks: np.ndarray) -> set[int]:
    return set(np.unique(tracks).tolist()) - {0}


def core(region: np.ndarray) -> np.ndarray:
    """`region` (bool HxW) without the pixels within CORE steps (4-neighbour) of its edge or the frame's."""
    out = np.pad(region, 1)
    for _ in range(CORE):
        out[1:-1, 1:-1] &= out[:-2, 1:-1] & out[2:, 1:-1] & out[1:-1, :-2] & out[1:-1, 2:]
    return out[1:-1, 1:-1]


def mean_difference(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.abs(a[where].astype(int) - b[where].astype(int)).mean())


def render_in_order(addon, scene, frames: range) -> dict[int, dict[int, str]]:
    """Render the scene's frames in order into its output path; each frame's track id -> style."""
    bpy.ops.render.render(animation=True)
    assert not addon.render_hooks.failures, addon.render_hooks.failures
    return {f: {i["track_id"]: i["style"] for i in addon.render_hooks.last_replies[f][0]["instances"]}
            for f in frames}


def test_shot_rendered_out_of_order_in_two_processes_matches_the_render_in_order(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), FRAMES)
    view(graph["instance_tracker"].outputs["Tracks"])  # `tracks_pass` reads it
    graph["neural_style"].palette = "style03, style13, style19, style24, style07, style11"
    scene.render.filepath = "//frames/######"
    bpy.context.preferences.addons[ADDON].preferences.cache_dir = "//instyle_cache"
    (tmp_path / "in_order").mkdir()
    (tmp_path / "farm").mkdir()
    farm_blend = tmp_path / "farm" / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(farm_blend), copy=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "in_order" / "shot.blend"))

    farm = []
    for k, frames in enumerate(SHUFFLED):
        script = RENDER_FRAMES.format(addon=ADDON, python=str(ENGINE_PYTHON), blend=str(farm_blend), frames=frames,
                                      out=str(tmp_path / f"styles{k}.json"))
        with open(tmp_path / f"farm{k}.log", "w") as log:
            farm.append(subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT))
    expected_styles = render_in_order(fresh, scene, range(1, FRAMES + 1))
    for k, process in enumerate(farm):
        assert process.wait(timeout=600) == 0, (tmp_path / f"farm{k}.log").read_text()[-3000:]
    farm_styles = {}
    for k in range(len(SHUFFLED)):
        farm_styles.update({int(f): {int(t): s for t, s in by_id.items()}
                            for f, by_id in json.loads((tmp_path / f"styles{k}.json").read_text()).items()})

    tracker, blend = graph["instance_tracker"], graph["mrf_blend"]
    farm_cache = tmp_path / "farm" / "instyle_cache"
    styles_seen = set()
    for frame in range(1, FRAMES + 1):
        expected = tracks_pass(fresh, tracker, frame)
        got = np.rint(read_exr(farm_cache / tracker.cache_id / "tracks" / f"{frame:06d}.exr")).astype(int)
        assert ids_in(got) == ids_in(expected) and len(ids_in(expected)) >= 3, frame
        assert farm_styles[frame] == expected_styles[frame], frame
        in_order = read_png(tmp_path / "in_order" / "frames" / f"{frame:06d}.png")
        shuffled = read_png(tmp_path / "farm" / "frames" / f"{frame:06d}.png")
        for track_id in ids_in(expected):
            mine, theirs = expected == track_id, got == track_id
            assert (mine & theirs).sum() >= 0.9 * (mine | theirs).sum(), (frame, track_id)
            inside = core(mine & theirs)
            assert inside.sum() >= 100, (frame, track_id, int(mine.sum()), int(theirs.sum()))
            levels = mean_difference(in_order, shuffled, inside)
            assert levels < SAME_PERSON_LEVELS, (frame, track_id, levels)
            styles_seen.add(expected_styles[frame][track_id])
        alpha = read_exr(fresh.paths.node_dir(blend.cache_id) / "alpha" / f"{frame:06d}.exr")
        farm_alpha = read_exr(farm_cache / blend.cache_id / "alpha" / f"{frame:06d}.exr")
        untouched = (alpha == 0) & (farm_alpha == 0)
        assert untouched.mean() > 0.5 and np.array_equal(in_order[untouched], shuffled[untouched]), frame
    assert len(styles_seen) >= 3, "people should be in different styles"
    store_name = fresh.track_summary.STORE_NAME
    in_order_store = fresh.track_summary.read_store(fresh.paths.node_dir(tracker.cache_id) / store_name)
    farm_store = fresh.track_summary.read_store(farm_cache / tracker.cache_id / store_name)
    assert set(in_order_store) == set(farm_store) == set(range(FRAMES))
    assert all(sorted(farm_store[i]) == sorted(in_order_store[i]) for i in range(FRAMES))


def test_analyze_lists_the_tracks_and_fills_the_table_whose_rows_restyle_one_person_each(fresh, tmp_path):
    frames = range(1, 4)
    footage = tmp_path / "vtest.avi"
    shutil.copy(VTEST, footage)
    shutil.copy(OPENCV_DATA / "starry_night.jpg", tmp_path / "starry.jpg")
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(footage), len(frames))
    tracker, style, blend = graph["instance_tracker"], graph["neural_style"], graph["mrf_blend"]
    view(tracker.outputs["Tracks"])  # `tracks_pass` reads it
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))

    assert bpy.ops.instyle.analyze(node=tracker.name) == {"FINISHED"}
    per_frame = {f: ids_in(tracks_pass(fresh, tracker, f)) for f in frames}
    seen = {t: [f for f in frames if t in per_frame[f]] for t in set().union(*per_frame.values())}
    assert len(seen) >= 3
    assert [(i.track_id, i.frames, i.first, i.last) for i in tracker.analysis] == [
        (t, len(f), f[0], f[-1]) for t, f in sorted(seen.items())]
    palette = style.palette_names()
    assert [(r.track_id, r.style) for r in style.track_styles] == [
        (t, palette[(t - 1) % len(palette)]) for t in sorted(seen)]
    assert tracker.status.startswith(f"Analyzed frames 1-3: {len(seen)} track(s)")

    scene.render.filepath = str(tmp_path / "before" / "######")
    before_styles = render_in_order(fresh, scene, frames)
    assert before_styles == {f: {t: palette[(t - 1) % len(palette)] for t in per_frame[f]} for f in frames}
    last = tracks_pass(fresh, tracker, frames[-1])
    target = max(set.intersection(*per_frame.values()), key=lambda t: (last == t).sum())
    painting = bpy.data.images.load(str(tmp_path / "starry.jpg"))
    painting.filepath = "//starry.jpg"
    next(r for r in style.track_styles if r.track_id == target).image = painting
    assert f"{target}={tmp_path / 'starry.jpg'}" in style.stage_params()["track_styles"]
    scene.render.filepath = str(tmp_path / "after" / "######")
    after_styles = render_in_order(fresh, scene, frames)

    for f in frames:
        assert after_styles[f] == {**before_styles[f], target: str(tmp_path / "starry.jpg")}
        tracks = tracks_pass(fresh, tracker, f)
        before = read_png(tmp_path / "before" / f"{f:06d}.png")
        after = read_png(tmp_path / "after" / f"{f:06d}.png")
        assert mean_difference(before, after, core(tracks == target)) > 10, f
        near_target = ~core(tracks != target)  # where the blend may carry the new style into a neighbour
        for other in per_frame[f] - {target}:
            region = core(tracks == other) & ~near_target
            assert region.sum() > 100 and np.array_equal(before[region], after[region]), (f, other)
        alpha = read_exr(fresh.paths.node_dir(blend.cache_id) / "alpha" / f"{f:06d}.exr")
        assert np.array_equal(before[alpha == 0], after[alpha == 0]), f

    assert bpy.ops.instyle.analyze(node=tracker.name) == {"FINISHED"}
    assert [r.track_id for r in style.track_styles] == sorted(seen), "a second analysis adds no rows twice"
    assert next(r.image for r in style.track_styles if r.track_id == target) == painting


def test_changed_footage_or_settings_make_the_analysis_stale(fresh, tmp_path):
    footage = tmp_path / "vtest.avi"
    shutil.copy(VTEST, footage)
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(footage), 1)
    tracker, mask = graph["instance_tracker"], graph["instance_mask"]
    assert not fresh.analyze.is_current(tracker, scene)
    assert bpy.ops.instyle.analyze(node=tracker.name) == {"FINISHED"}
    assert fresh.analyze.is_current(tracker, scene) and len(tracker.analysis) >= 3
    shown = drawn(tracker)
    assert "instyle.analyze" in shown and f"{len(tracker.analysis)} track(s) found" in shown and "analysis" in shown
    changes = [(mask, "score_threshold", 0.5), (tracker, "confirm_frames", 3), (tracker, "merge", "2=1"),
               (scene, "frame_end", 2)]
    for owner, name, value in changes:
        old = getattr(owner, name)
        setattr(owner, name, value)
        assert not fresh.analyze.is_current(tracker, scene), name
        setattr(owner, name, old)
        assert fresh.analyze.is_current(tracker, scene), name
    stat = footage.stat()
    os.utime(footage, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert not fresh.analyze.is_current(tracker, scene), "footage rewritten in place"
    shown = drawn(tracker)
    assert "Footage, settings or frame range changed: Analyze again" in shown and "analysis" not in shown
    tracker.merge = "2=1"
    assert bpy.ops.instyle.analyze(node=tracker.name) == {"FINISHED"}
    assert fresh.analyze.is_current(tracker, scene) and 2 not in {i.track_id for i in tracker.analysis}


def test_analyze_explains_what_it_cannot_analyse(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    graph["instance_tracker"].shot_start = -1
    with pytest.raises(RuntimeError, match="Shot Start is -1"):
        bpy.ops.instyle.analyze(node=graph["instance_tracker"].name)
    with pytest.raises(RuntimeError, match="no Instance Tracker node named 'Neural Style'"):
        bpy.ops.instyle.analyze(node=graph["neural_style"].name)
