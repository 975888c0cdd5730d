"""The whole path in real Blender: graph from Python, render, pixels checked against the source."""

from __future__ import annotations

import subprocess
import textwrap

import bpy
import numpy as np
import pytest

from ..conftest import ENGINE_PYTHON, VTEST
from .conftest import read_exr, read_png, render_saved_file, view

FRAMES = 3
STAGES = ("instance_mask", "instance_tracker", "neural_style", "mrf_blend")


def render(scene, out):
    scene.render.filepath = str(out / "######")
    bpy.ops.render.render(animation=True)
    return [read_png(out / f"{f:06d}.png") for f in range(scene.frame_start, scene.frame_end + 1)]


@pytest.fixture
def rendered(fresh, tmp_path):
    """Three frames of vtest.avi through the four nodes, and the same frames with the chain bypassed."""
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), FRAMES)
    tree = scene.compositing_node_group
    view(graph["instance_mask"].outputs["Mask"])  # read by the test below: cached only when something reads it
    frames = render(scene, tmp_path / "styled")
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    tree.links.new(graph["source"].outputs["Image"], graph["output"].inputs[0])
    fresh.render_hooks.unregister()
    try:
        reference = render(scene, tmp_path / "plain")
    finally:
        fresh.render_hooks.register()
    return graph, frames, reference


def test_frames_render_and_only_people_change(rendered, fresh):
    graph, frames, reference = rendered
    blend = graph["mrf_blend"]
    root = fresh.paths.node_dir(blend.cache_id)
    for k, (styled, plain) in enumerate(zip(frames, reference)):
        frame = k + 1
        assert styled.shape == plain.shape == (576, 768, 3)
        alpha = read_exr(root / "alpha" / f"{frame:06d}.exr")
        outside, inside = alpha == 0, alpha == 1
        assert outside.mean() > 0.5 and inside.sum() > 500
        assert np.array_equal(styled[outside], plain[outside]), f"frame {frame}: background changed"
        diff = np.abs(styled[inside].astype(int) - plain[inside].astype(int)).mean()
        assert diff > 10, f"frame {frame}: people barely changed (mean difference {diff:.1f} levels)"
        masks = read_exr(fresh.paths.node_dir(graph["instance_mask"].cache_id) / "mask" / f"{frame:06d}.exr")
        people = masks >= 0.5
        assert np.abs(styled[people].astype(int) - plain[people].astype(int)).mean() > 5
    statuses = [graph[n].status for n in ("instance_mask", "instance_tracker", "neural_style", "mrf_blend")]
    assert all(s.startswith(f"Frame {FRAMES}: ") for s in statuses), statuses


def grown(region: np.ndarray, steps: int) -> np.ndarray:
    """`region` (bool HxW) grown by `steps` 4-neighbour steps."""
    out = region.copy()
    for _ in range(steps):
        step = out.copy()
        step[1:] |= out[:-1]
        step[:-1] |= out[1:]
        step[:, 1:] |= out[:, :-1]
        step[:, :-1] |= out[:, 1:]
        out = step
    return out


def sharpness(image: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute Laplacian of the image's grey levels over `where`: lower when blurred."""
    grey = image.astype(np.float32).mean(axis=2)
    laplacian = np.abs(4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:])
    return float(laplacian[where[1:-1, 1:-1]].mean())


def test_background_blur_renders_a_portrait_blur_with_the_people_styled_and_sharp(fresh, tmp_path):
    """MRF Blend's Background Blur in Blender: the node's own mix (alpha 1, the engine's frame as the stylized
    layer) renders the background through the lens blur and the people stylized."""
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    graph["mrf_blend"].background_blur = 8.0
    view(graph["instance_mask"].outputs["Mask"])
    blurred = render(scene, tmp_path / "blurred")[0]
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    scene.compositing_node_group.links.new(graph["source"].outputs["Image"], graph["output"].inputs[0])
    fresh.render_hooks.unregister()
    try:
        plain = render(scene, tmp_path / "plain")[0]
    finally:
        fresh.render_hooks.register()
    people = read_exr(fresh.paths.node_dir(graph["instance_mask"].cache_id) / "mask" / "000001.exr") >= 0.5
    assert people.sum() > 500
    background = ~grown(people, 12)
    assert sharpness(blurred, background) < 0.5 * sharpness(plain, background)
    inside = ~grown(~people, 5)
    assert np.abs(blurred[inside].astype(int) - plain[inside].astype(int)).mean() > 10


def test_tracks_keep_their_style_across_frames(rendered, fresh):
    graph, _, _ = rendered
    replies = [fresh.render_hooks.last_replies[f][0] for f in range(1, FRAMES + 1)]
    styles = [{i["track_id"]: i["style"] for i in r["instances"]} for r in replies]
    shared = set(styles[0]) & set(styles[-1])
    assert len(shared) >= 2
    assert all(styles[0][t] == styles[-1][t] for t in shared)
    assert len({styles[0][t] for t in shared}) >= 2, "different tracks should get different styles"


def test_an_image_sequence_is_stabilised_keyed_and_tracked_as_a_video_is(fresh, tmp_path):
    """An EXR/PNG plate numbered from 1001, as VFX plates are: the engine reads the previous file (temporal
    stabilisation), key frames for the crops' statistics and the shot's frames for tracking."""
    folder = tmp_path / "plate"
    folder.mkdir()
    subprocess.run([str(ENGINE_PYTHON), "-c", textwrap.dedent(f"""
        import cv2
        capture = cv2.VideoCapture({str(VTEST)!r})
        capture.set(cv2.CAP_PROP_POS_FRAMES, 100)
        for number in range(1001, 1005):
            cv2.imwrite({str(folder)!r} + f"/plate.{{number}}.png", capture.read()[1])
    """)], check=True, timeout=120)
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(folder / "plate.1001.png"), FRAMES)
    frames = render(scene, tmp_path / "styled")
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    reports = [fresh.render_hooks.last_replies[f][0]["report"] for f in range(1, FRAMES + 1)]
    assert all(r["neural_style"]["mode"] == "crops" for r in reports)  # key frames read: no whole-frame fallback
    assert all(r["instance_tracker"]["mode"] != "arrival order" for r in reports)
    assert "temporal" not in reports[0]["neural_style"]  # plate.1000.png does not exist
    assert all(r["neural_style"]["temporal"]["trusted_share"] > 0.5 for r in reports[1:])
    assert frames[0].shape == (576, 768, 3) and graph["source"].frame_offset == 1000


def test_a_plate_frame_rewritten_in_place_renders_again_and_only_the_frames_made_from_it(fresh, tmp_path):
    """A paint fix saved over plate.1002.png (same file, same folder): the next render computes frame 2 again from
    the new pixels, and frame 3, whose temporal stabilisation read it; frame 1 is kept as it was."""
    folder = tmp_path / "plate"
    folder.mkdir()
    write = textwrap.dedent(f"""
        import cv2, sys
        capture = cv2.VideoCapture({str(VTEST)!r})
        for number in range(1001, 1004):
            capture.set(cv2.CAP_PROP_POS_FRAMES, 100 + number - 1001 + (200 if len(sys.argv) > 1 else 0))
            image = capture.read()[1]
            if len(sys.argv) == 1 or number == 1002:
                with open({str(folder)!r} + f"/plate.{{number}}.png", "r+b" if len(sys.argv) > 1 else "wb") as f:
                    f.write(cv2.imencode(".png", image)[1].tobytes())
                    f.truncate()
    """)
    subprocess.run([str(ENGINE_PYTHON), "-c", write], check=True, timeout=120)
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(folder / "plate.1001.png"), FRAMES)
    first = render(scene, tmp_path / "first")
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    alpha_dir = fresh.paths.node_dir(graph["mrf_blend"].cache_id) / "alpha"
    made = {f: (alpha_dir / f"{f:06d}.exr").stat().st_mtime_ns for f in range(1, FRAMES + 1)}
    folder_mtime = folder.stat().st_mtime_ns
    subprocess.run([str(ENGINE_PYTHON), "-c", write, "fix"], check=True, timeout=120)
    assert folder.stat().st_mtime_ns == folder_mtime  # nothing but the file's own size and time tell
    second = render(scene, tmp_path / "second")
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    now = {f: (alpha_dir / f"{f:06d}.exr").stat().st_mtime_ns for f in range(1, FRAMES + 1)}
    assert [now[f] != made[f] for f in range(1, FRAMES + 1)] == [False, True, True]
    assert np.array_equal(second[0], first[0])
    assert np.abs(second[1].astype(int) - first[1].astype(int)).mean() > 5, "frame 2 still shows the old plate"


def test_free_memory_operator_reports_what_the_engine_released(rendered, fresh):
    assert bpy.ops.instyle.free_memory() == {"FINISHED"}
    assert fresh.engine_link.connected().free_memory()["released_bytes"] == 0


def test_saved_file_reopens_with_nodes_and_properties(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), FRAMES)
    graph["instance_mask"].score_threshold = 0.55
    graph["instance_mask"].classes = "person, dog"
    graph["neural_style"].style = "style07"
    graph["neural_style"].palette = "style01, style02"
    graph["mrf_blend"].band = 11.0
    ids = {k: graph[k].cache_id for k in ("instance_mask", "neural_style", "mrf_blend")}
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(path))
    nodes = {n.bl_idname: n for n in bpy.context.scene.compositing_node_group.nodes}
    mask, style, blend = (nodes["InstyleInstanceMaskNode"], nodes["InstyleNeuralStyleNode"],
                          nodes["InstyleMRFBlendNode"])
    assert "InstyleInstanceTrackerNode" in nodes
    assert (mask.score_threshold, mask.classes) == (pytest.approx(0.55), "person, dog")
    assert (style.style, style.palette, blend.band) == ("style07", "style01, style02", 11.0)
    assert (mask.cache_id, style.cache_id, blend.cache_id) == (ids["instance_mask"], ids["neural_style"],
                                                               ids["mrf_blend"])
    assert blend.node_tree is not None and any(n.name == "cache:alpha" for n in blend.node_tree.nodes)
    assert blend.inputs["Image"].is_linked and any(n.name == "cache:stylized_for_mix" for n in blend.node_tree.nodes)


def test_missing_footage_is_reported_on_the_node(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    graph["source"].clip.filepath = str(tmp_path / "gone.avi")
    with pytest.raises(RuntimeError, match="footage file not found"):
        bpy.ops.instyle.bake()
    status = graph["instance_mask"].status  # the node reading the footage
    assert status.startswith("Error: Movie Clip: footage file not found") and "gone.avi" in status, status


def test_unknown_class_is_reported_with_the_valid_ones(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    graph["instance_mask"].classes = "person, unicorn"
    with pytest.raises(RuntimeError, match="unicorn"):
        bpy.ops.instyle.bake()
    assert "'unicorn'" in graph["instance_mask"].status and "giraffe" in graph["instance_mask"].status


def node_dirs(fresh, nodes) -> list:
    return [fresh.paths.node_dir(node.cache_id) for node in nodes]


def cached_files(folders) -> dict[str, int]:
    """Every frame file cached in the nodes' `folders`, with its modification time (ns)."""
    return {str(p): p.stat().st_mtime_ns for folder in folders for p in folder.glob("*/*.exr")
            if not p.name.startswith(".")}


def test_a_parameter_change_clears_only_its_chains_stale_frames(fresh, tmp_path):
    """Two chains on one clip: a Neural Style setting changed in one recomputes that chain's frames (a request
    computes a chain's frame whole), and every frame of the other chain is kept as it was."""
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 2)
    tree = scene.compositing_node_group
    other = fresh.graph_setup.add_chain(tree, graph["source"], 0, -600)
    tree.links.new(other["mrf_blend"].outputs[0], tree.nodes.new("CompositorNodeViewer").inputs[0])
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    kept_dirs = node_dirs(fresh, other.values())
    stale_dirs = node_dirs(fresh, [graph["neural_style"], graph["mrf_blend"]])
    kept, stale = cached_files(kept_dirs), cached_files(stale_dirs)
    for files in (kept, stale):  # what is read (MRF Blend's alpha and stylized layer), for both frames
        assert len(files) >= 4 and {f[-10:] for f in files} == {"000001.exr", "000002.exr"}
    graph["neural_style"].temporal = 0.0
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    assert cached_files(kept_dirs) == kept
    now = cached_files(stale_dirs)
    assert now.keys() == stale.keys() and all(now[f] != stale[f] for f in stale)


def test_changed_parameters_invalidate_the_cache(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    alpha_file = fresh.paths.node_dir(graph["mrf_blend"].cache_id) / "alpha" / "000001.exr"
    before = read_exr(alpha_file)
    graph["mrf_blend"].band = 30.0
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    after = read_exr(alpha_file)
    assert ((after > 0) & (after < 1)).sum() > 1.5 * ((before > 0) & (before < 1)).sum()


def test_command_line_render_of_a_saved_file_without_a_bake(fresh, tmp_path):
    """What `blender -b file.blend -a` does on a farm node: a new process opens the file and renders."""
    result = render_saved_file(fresh, tmp_path, 2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "frames" / "000001.png").is_file() and (tmp_path / "frames" / "000002.png").is_file()
    cached = sorted(p.name for p in (tmp_path / "instyle_cache").glob("*/alpha/*.exr"))
    assert cached == ["000001.exr", "000002.exr"]


def test_a_killed_engine_is_restarted_and_the_bake_resumes(fresh, tmp_path):
    """kill -9 of the engine mid-bake: the bake restarts it, resumes from the first frame not cached (the frames
    complete at the kill keep their files: same modification times) and ends with every frame cached and valid."""
    import os
    import signal
    import threading
    import time

    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 8)
    alpha_dir = fresh.paths.node_dir(graph["mrf_blend"].cache_id) / "alpha"
    blend_dir = fresh.paths.node_dir(graph["mrf_blend"].cache_id)
    folders = node_dirs(fresh, [graph[k] for k in STAGES])
    fresh.engine_link.client()
    first_pid = fresh.engine_link.engine_pid()
    killed = threading.Event()
    at_kill: dict[str, int] = {}

    def kill_after_two_frames():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if alpha_dir.is_dir() and len(list(alpha_dir.glob("*.exr"))) >= 2:
                os.kill(first_pid, signal.SIGKILL)
                killed.set()
                # a frame is complete once MRF Blend's tag is written: the engine tags after every write
                complete = [f for f in range(1, 9) if fresh.wire.corrections.tag_file(blend_dir, f).is_file()]
                at_kill.update({k: v for k, v in cached_files(folders).items() if int(k[-10:-4]) in complete})
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_after_two_frames, daemon=True)
    watcher.start()
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    watcher.join()
    assert killed.is_set()
    assert fresh.engine_link.engine_pid() not in (None, first_pid)
    assert len(at_kill) >= 2, "no frame was complete at the kill"  # MRF Blend's alpha and stylized layer
    after = cached_files(folders)
    assert {f: after[f] for f in at_kill} == at_kill, "frames cached before the kill were computed again"
    assert sorted(p.name for p in alpha_dir.iterdir()) == [f"{f:06d}.exr" for f in range(1, 9)]
    for f in range(1, 9):
        alpha = read_exr(alpha_dir / f"{f:06d}.exr")
        assert alpha.shape == (576, 768) and (alpha == 1).any() and (alpha == 0).any()
    assert graph["mrf_blend"].status == "Baked 8 frame(s)"


def test_esc_cancels_a_bake_and_keeps_the_frames_done(fresh, tmp_path):
    """The Bake operator's modal handler given Esc after the first frame: the engine's job reports itself cancelled
    (its last event) before the range is done, and the frames made are kept."""
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 12)
    alpha_dir = fresh.paths.node_dir(graph["mrf_blend"].cache_id) / "alpha"
    reports = []

    class Bake(fresh.bake.BakeOperator):  # the operator's own methods, with its reports kept
        def report(self, level, text):
            reports.append((level, text))

    operator, esc = Bake(), type("Event", (), {"type": "ESC"})()
    assert operator._start(bpy.context)
    while operator.run.done == 0:
        assert not operator.run.pump(wait=0.1), "the bake ended before Esc"
    assert operator.modal(bpy.context, esc) == {"CANCELLED"}
    assert not operator.run.jobs and operator.run.restarts == 0, "the cancelled bake was taken for a dead engine"
    done = sorted(p.name for p in alpha_dir.glob("*.exr"))
    assert 1 <= len(done) < 12 and done == [f"{f:06d}.exr" for f in range(1, len(done) + 1)]
    assert reports[-1] == ({"WARNING"}, f"Bake cancelled; {operator.run.done} frame(s) are cached and kept")
    assert graph["mrf_blend"].status.startswith("Bake cancelled"), "the engine did not report the job cancelled"


def test_a_bake_over_a_sequence_with_a_missing_file_bakes_what_it_can_and_names_the_rest(fresh, tmp_path):
    """plate.1003.png is missing: frame 3 cannot be baked, nor frame 4 (the tracker follows the shot from its
    first frame, through 3); the bake ends without taking that for a dead engine."""
    folder = tmp_path / "plate"
    folder.mkdir()
    subprocess.run([str(ENGINE_PYTHON), "-c", textwrap.dedent(f"""
        import cv2
        capture = cv2.VideoCapture({str(VTEST)!r})
        for number in range(1001, 1005):
            image = capture.read()[1]
            if number != 1003:
                cv2.imwrite({str(folder)!r} + f"/plate.{{number}}.png", image)
    """)], check=True, timeout=120)
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(folder / "plate.1001.png"), 4)
    graph["source"].frame_duration = scene.frame_end = 4  # Blender counts the files up to the gap
    alpha_dir = fresh.paths.node_dir(graph["mrf_blend"].cache_id) / "alpha"
    fresh.engine_link.client()
    pid = fresh.engine_link.engine_pid()
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    assert fresh.engine_link.engine_pid() == pid, "the missing frame was taken for a dead engine"
    assert sorted(p.name for p in alpha_dir.iterdir()) == [f"{f:06d}.exr" for f in (1, 2)]


def test_only_outputs_that_something_reads_are_cached_and_a_new_link_computes_the_frames_lacking_it(fresh, tmp_path):
    """The default chain reads only MRF Blend's Image (its alpha and stylized layer): nothing else is written. Linking
    Neural Style's Stylized output to a Viewer makes the cached frames lack it, so the next render computes them
    again, with it; unlinking it leaves the frames cached."""
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 2)
    names = ("instance_mask", "instance_tracker", "neural_style", "mrf_blend")

    def cached() -> set[tuple[str, str, str]]:
        return {(name, p.parent.name, p.name) for name in names
                for p in fresh.paths.node_dir(graph[name].cache_id).glob("*/*.exr")}

    def computed(folder: str) -> list[int]:
        fresh.render_hooks.last_replies.clear()
        render(scene, tmp_path / folder)
        assert not fresh.render_hooks.failures, fresh.render_hooks.failures
        return [f for f in (1, 2) if fresh.render_hooks.last_replies[f]]

    assert computed("default") == [1, 2]
    assert cached() == {("mrf_blend", o, f"{f:06d}.exr") for o in ("alpha", "stylized_for_mix") for f in (1, 2)}
    assert computed("again") == []
    viewer = view(graph["neural_style"].outputs["Stylized"])
    assert computed("linked") == [1, 2]
    stylized = {(n, o, f) for n, o, f in cached() if n == "neural_style"}
    assert stylized == {("neural_style", "image", f"{f:06d}.exr") for f in (1, 2)}
    for f in (1, 2):
        image = read_exr(fresh.paths.node_dir(graph["neural_style"].cache_id) / "image" / f"{f:06d}.exr")
        assert image.shape == (576, 768) and image.std() > 0.05
    scene.compositing_node_group.nodes.remove(viewer)
    assert computed("unlinked") == []


FLOAT32_FILES = """
import sys
from pathlib import Path
import cv2, numpy as np
from instyle.media import srgb_to_linear
folder = Path(sys.argv[1])
for line in sys.argv[2:]:
    array_file, colour, target = line.split("|")
    array = np.load(array_file)
    if array.ndim == 2:
        bgra = cv2.merge([array, array, array, np.ones_like(array)])
    else:
        bgra = cv2.cvtColor(srgb_to_linear(array) if colour == "1" else array, cv2.COLOR_RGB2BGRA)
    assert cv2.imwrite(target, bgra, [cv2.IMWRITE_EXR_TYPE, cv2.IMWRITE_EXR_TYPE_FLOAT,
                                      cv2.IMWRITE_EXR_COMPRESSION, cv2.IMWRITE_EXR_COMPRESSION_NO])
"""


def test_cached_frames_render_within_a_level_of_float32_ones(fresh, tmp_path):
    """The cache's half-float, compressed frames (MRF Blend's alpha and stylized layer, zero where alpha is 0, and
    Neural Style's Stylized output) render within one 8-bit level of the same outputs stored as uncompressed 32-bit
    float RGBA, and the same, bit for bit, where alpha is 0."""
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 2)
    tree, style, blend = scene.compositing_node_group, graph["neural_style"], graph["mrf_blend"]
    view(style.outputs["Stylized"])
    chain = fresh.compute.chains_of(scene)[0]
    fresh.compute.prepare([chain])
    returns = {"neural_style": ["image"], "mrf_blend": ["alpha", "stylized_for_mix"]}
    lines = []
    for f in (1, 2):  # what a render computes, with the float32 outputs returned too
        request = fresh.compute.frame_request(chain, f)
        for stage in request["pipeline"]:
            stage["return"] = returns.get(stage["stage"], [])
        reply, payloads = fresh.engine_link.client().request({"type": "run", **request})
        for key, spec in reply["arrays"].items():
            stage, output = key.split(".")
            array_file = tmp_path / f"{f}.{key}.npy"
            np.save(array_file, np.frombuffer(payloads[spec["payload"]], spec["dtype"]).reshape(spec["shape"]))
            node = style if stage == "neural_style" else blend
            target = fresh.paths.node_dir(node.cache_id) / output / f"{f:06d}.exr"
            assert target.is_file()
            lines.append(f"{array_file}|{int(output != 'alpha')}|{target}")

    def renders(folder: str) -> dict[str, list[np.ndarray]]:
        """The chain's result and Neural Style's Stylized output, each rendered from the cache."""
        for node in (style, blend):
            for reader in fresh.inner_tree.cache_readers(node.node_tree).values():
                reader.image.reload()
        out = {}
        for name, node, socket in (("result", blend, "Image"), ("stylized", style, "Stylized")):
            tree.links.new(node.outputs[socket], graph["output"].inputs[0])
            fresh.render_hooks.last_replies.clear()
            out[name] = render(scene, tmp_path / folder / name)
            assert not fresh.render_hooks.failures, fresh.render_hooks.failures
            assert not any(fresh.render_hooks.last_replies.values()), "rendered from the cache, nothing computed"
        tree.links.new(blend.outputs["Image"], graph["output"].inputs[0])
        return out

    cached = renders("cached")
    subprocess.run([str(ENGINE_PYTHON), "-c", FLOAT32_FILES, str(tmp_path), *lines], check=True, timeout=120)
    floats = renders("float32")
    for k, f in enumerate((1, 2)):
        for name in ("result", "stylized"):
            levels = np.abs(cached[name][k].astype(int) - floats[name][k].astype(int))
            assert levels.max() <= 1, (f, name, levels.max())
        untouched = np.load(tmp_path / f"{f}.mrf_blend.alpha.npy") == 0
        assert untouched.mean() > 0.5 and np.array_equal(cached["result"][k][untouched], floats["result"][k][untouched])
        assert (cached["result"][k] != cached["stylized"][k]).any()


def test_the_footage_graph_without_the_chain_is_blender_alone(fresh, tmp_path):
    """The benchmarks' floor: footage straight to the output, rendered without the engine, pixels unchanged."""
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1, chain=False)
    tree = scene.compositing_node_group
    assert sorted(graph) == ["output", "source"] and len(tree.nodes) == 2
    assert [(link.from_node, link.to_node) for link in tree.links] == [(graph["source"], graph["output"])]
    fresh.engine_link.shutdown()
    (frame,) = render(scene, tmp_path)
    assert fresh.engine_link.engine_pid() is None and not any(fresh.render_hooks.last_replies.values())
    assert frame.shape == (576, 768, 3) and frame.std() > 20  # vtest.avi's frame, not a blank one
