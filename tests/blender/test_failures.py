"""Failing loudly, errors on the node at fault, chains that reach an output, and mute: real Blender, a real engine."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from ..conftest import VTEST
from .conftest import ADDON, read_png, render_saved_file

BREAK_AT_FRAME_2 = """
def break_at_frame_2(scene, *_):
    if scene.frame_current == 2:  # the style is lost mid-render, as a file server might lose a painting
        scene.compositing_node_group.nodes["Neural Style"].palette = "style03, style99"
"""


def render(scene, out):
    scene.render.filepath = str(out / "######")
    bpy.ops.render.render(animation=True)


def plain_render(fresh, scene, graph, out):
    """The footage as Blender renders it without instyle: the reference for bypassed chains."""
    tree = scene.compositing_node_group
    link = tree.links.new(graph["source"].outputs["Image"], graph["output"].inputs[0])
    fresh.render_hooks.unregister()
    try:
        render(scene, out)
    finally:
        fresh.render_hooks.register()
        tree.links.remove(link)
        tree.links.new(graph["mrf_blend"].outputs["Image"], graph["output"].inputs[0])


def test_a_frame_that_fails_ends_a_command_line_render_with_exit_code_1_and_is_not_written(fresh, tmp_path):
    result = render_saved_file(fresh, tmp_path, 3, BREAK_AT_FRAME_2 + "\nbpy.app.handlers.render_pre.insert(0, break_at_frame_2)\n")
    assert result.returncode == 1, result.stderr[-3000:]
    written = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert written == ["000001.png"], written
    assert "instyle: frame 2: Neural Style: Palette: 'style99' not among: style00" in result.stderr, \
        result.stderr[-3000:]


def test_an_interactive_render_is_cancelled_at_the_failing_frame_and_its_settings_restored(fresh, tmp_path,
                                                                                            monkeypatch):
    """The path a render takes in Blender's UI (not in the background), driven by the same render operator."""
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 3)
    monkeypatch.setattr(fresh.render_hooks, "_in_background", lambda: False)
    settings = (scene.camera, scene.render.use_compositing, scene.render.use_sequencer)
    namespace = {}
    exec(BREAK_AT_FRAME_2, namespace)
    bpy.app.handlers.render_pre.insert(0, namespace["break_at_frame_2"])
    try:
        with pytest.raises(RuntimeError):
            render(scene, tmp_path / "frames")
    finally:
        bpy.app.handlers.render_pre.remove(namespace["break_at_frame_2"])
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["000001.png"]
    assert (scene.camera, scene.render.use_compositing, scene.render.use_sequencer) == settings
    assert len(fresh.render_hooks.failures) == 1 and "frame 2: Neural Style: Palette" in fresh.render_hooks.failures[0]
    assert graph["neural_style"].status.startswith("Error: Palette: 'style99' not among: style00"), graph["neural_style"].status
    for name in ("instance_mask", "instance_tracker", "mrf_blend"):
        assert graph[name].status == "Not computed: Neural Style has an error", (name, graph[name].status)
    graph["neural_style"].palette = "style03"
    render(scene, tmp_path / "again")  # the next render runs as usual
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["000001.png", "000002.png", "000003.png"]


def test_pass_through_renders_the_footage_and_puts_the_error_on_the_node_at_fault(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    bpy.context.preferences.addons[ADDON].preferences.on_error = "PASS"
    graph["instance_mask"].classes = "person, unicorn"
    render(scene, tmp_path / "frames")
    assert (tmp_path / "frames" / "000001.png").is_file()
    assert graph["instance_mask"].status.startswith("Error: Classes: 'unicorn' not among: person, bicycle")
    for name in ("instance_tracker", "neural_style", "mrf_blend"):
        assert graph[name].status == "Not computed: Instance Mask has an error", (name, graph[name].status)
    assert "frame 1: Instance Mask: Classes: 'unicorn'" in fresh.render_hooks.failures[0]


def test_stray_nodes_and_chains_that_reach_no_output_stop_nothing(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    tree = scene.compositing_node_group
    stray = tree.nodes.new(fresh.nodes.InstanceMaskNode.bl_idname)  # linked to nothing at all
    dangling = fresh.graph_setup.add_chain(tree, graph["source"], 0, -600)  # a whole chain to no output
    dangling["instance_mask"].classes = "unicorn"  # broken too: it must not matter
    render(scene, tmp_path / "frames")
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    assert graph["mrf_blend"].status.startswith("Frame 1: ")
    for node in (stray, *dangling.values()):
        assert node.status == "Not computed: not linked to an output or a Viewer", (node.name, node.status)
    assert not any(fresh.paths.node_dir(n.cache_id).exists() for n in (stray, *dangling.values()))


def test_a_muted_neural_style_is_bypassed(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    plain_render(fresh, scene, graph, tmp_path / "plain")
    plain = read_png(tmp_path / "plain" / "000001.png")
    render(scene, tmp_path / "styled")
    styled = read_png(tmp_path / "styled" / "000001.png")
    assert np.abs(styled.astype(int) - plain.astype(int)).max() > 100
    graph["neural_style"].mute = True
    render(scene, tmp_path / "muted")
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    assert np.array_equal(read_png(tmp_path / "muted" / "000001.png"), plain)
    assert graph["neural_style"].status == "Muted: bypassed"
    graph["neural_style"].mute = False
    render(scene, tmp_path / "unmuted")
    assert np.array_equal(read_png(tmp_path / "unmuted" / "000001.png"), styled)


def test_a_result_linked_where_the_footage_belongs_is_an_error_on_that_node(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    bpy.context.preferences.addons[ADDON].preferences.on_error = "PASS"
    tree = scene.compositing_node_group
    tree.links.new(graph["neural_style"].outputs["Stylized"], graph["mrf_blend"].inputs["Image"])
    render(scene, tmp_path / "frames")
    assert graph["mrf_blend"].status == ("Error: its Image input comes from Neural Style's Stylized output"), \
        graph["mrf_blend"].status
