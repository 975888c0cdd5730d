"""The Video Sequencer: the instyle chain as a strip's Compositor modifier, against the compositor path.

vtest.avi runs at 10 fps, so the scenes here do too (instyle refuses a movie whose rate is not the scene's).
Each path computes the same footage frames in the same order: the engine's temporal stabilisation keeps what it
rendered of the previous footage frame, so a frame computed right after its predecessor can differ (up to 134
levels on a few people's pixels) from one computed first.
"""

from __future__ import annotations

import shutil
import time

import bpy
import numpy as np
import pytest

from ..conftest import ENGINE_PYTHON, VTEST
from .conftest import ADDON, read_exr, read_png

FPS = 10
SHOT = 4  # the trackers' shot start (a footage frame), the same on both paths whatever frame a strip starts at


def render_frames(scene, frames, out) -> dict[int, np.ndarray]:
    """Each scene frame rendered on its own, as an animation of one frame."""
    images = {}
    for frame in frames:
        scene.frame_start = scene.frame_end = frame
        scene.render.filepath = str(out / "######")
        bpy.ops.render.render(animation=True)
        images[frame] = read_png(out / f"{frame:06d}.png")
    return images


def sequencer_scene(scene):
    """`scene` rendering its strips only, at vtest.avi's rate."""
    scene.compositing_node_group = None
    scene.render.use_sequencer, scene.render.use_compositing = True, False
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    return scene.sequence_editor_create()


def add_movie(editor, name, frame_start, offset_start, animation_offset=0, duration=2):
    strip = editor.strips.new_movie(name, str(VTEST), channel=1, frame_start=frame_start)
    strip.animation_offset_start = animation_offset
    strip.frame_offset_start = offset_start
    strip.frame_final_duration = duration
    return strip


def chain_of(module, scene, strip_name):
    return next(c for c in module.compute.chains_of(scene) if c.footage.name == strip_name)


def cached_numbers(chain) -> list[int]:
    node = chain.nodes[-1]
    return sorted(int(p.stem) for p in (chain.node_dir(node) / "alpha").glob("*.exr"))


@pytest.fixture(scope="module")
def edit(addon, tmp_path_factory):
    """vtest.avi through the compositor at footage frames 5-6; then two strips of it sharing one node group, made
    by the add-chain operator: "plate" (frame_start 10, handle offset 5: scene frames 15-16 show footage frames
    5-6), rendered without a bake, and "plate.late" (frame_start 30, animation offset 2 and handle offset 3: scene
    frames 33-34 show footage frames 5-6), baked first. Plain data only: later tests open other files."""
    tmp = tmp_path_factory.mktemp("sequencer")
    bpy.ops.wm.read_homefile(use_empty=True)
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.engine_mode, prefs.engine_python, prefs.cache_dir = "AUTO", str(ENGINE_PYTHON), str(tmp / "cache")
    addon.render_hooks.failures.clear()
    scene = bpy.context.scene

    graph = addon.graph_setup.footage_graph(scene, str(VTEST))
    graph["instance_tracker"].shot_start = SHOT
    reference = render_frames(scene, [6, 7], tmp / "compositor")  # a Movie Clip shows footage frame f - 1
    reference = {f - 1: image for f, image in reference.items()}

    editor = sequencer_scene(scene)
    plate = add_movie(editor, "plate", 10, 5)
    editor.active_strip = plate
    assert bpy.ops.instyle.add_strip_chain() == {"FINISHED"}
    modifier = plate.modifiers[0]
    group = modifier.node_group
    next(n for n in group.nodes if n.bl_idname == "InstyleInstanceTrackerNode").shot_start = SHOT
    late = add_movie(editor, "plate.late", 30, 3, animation_offset=2)
    with bpy.context.temp_override(sequencer_scene=scene):
        late.modifiers.new(name="instyle", type="COMPOSITOR").node_group = group

    modifier.mute = True
    plain = render_frames(scene, [15], tmp / "plain")[15]
    modifier.mute = False

    scene.frame_start, scene.frame_end = 30, 35
    started = time.perf_counter()
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    bake_s = time.perf_counter() - started
    strips = render_frames(scene, [15, 16, 33, 34], tmp / "strips")
    assert not addon.render_hooks.failures, addon.render_hooks.failures

    chains = {name: chain_of(addon, scene, name) for name in ("plate", "plate.late")}
    alpha = read_exr(chains["plate"].node_dir(chains["plate"].nodes[-1]) / "alpha" / "000005.exr")
    return {"reference": reference, "plain": plain, "strips": strips, "alpha_5": alpha, "bake_s": bake_s,
            "computed": {f: len(addon.render_hooks.last_replies[f]) for f in strips},
            "dirs": {name: str(chain.node_dir(chain.nodes[-1])) for name, chain in chains.items()},
            "cached": {name: cached_numbers(chain) for name, chain in chains.items()},
            "all_cached": {name: all(chain.cached(f) for f in range(*chain.footage.shown))
                           for name, chain in chains.items()}}


def differs(a, b) -> float:
    """The share of pixels more than 1 level apart in some channel."""
    return float((np.abs(a.astype(int) - b.astype(int)) > 1).any(axis=2).mean())


def test_strip_renders_the_compositor_pixels_of_the_footage_frame_it_shows(edit):
    reference, strips = edit["reference"], edit["strips"]
    shows = {15: 5, 16: 6, 33: 5, 34: 6}  # scene frame -> footage frame
    for frame, footage in shows.items():
        diff = np.abs(strips[frame].astype(int) - reference[footage].astype(int)).max()
        assert diff <= 1, f"scene frame {frame}: {diff} levels from the compositor's footage frame {footage}"
    for frame, footage in shows.items():
        for neighbour in (footage - 1, footage + 1):
            if neighbour in reference:
                assert differs(strips[frame], reference[neighbour]) > 0.05, \
                    f"scene frame {frame} also matches footage frame {neighbour}: the test cannot see the mapping"
    people = edit["alpha_5"] == 1
    assert people.sum() > 500
    styled = np.abs(strips[15][people].astype(int) - edit["plain"][people].astype(int)).mean()
    assert styled > 10, f"people barely changed on the strip ({styled:.1f} levels)"


def test_strips_sharing_a_group_keep_their_own_caches(edit):
    assert edit["dirs"]["plate"] != edit["dirs"]["plate.late"]
    assert edit["cached"] == {"plate": [5, 6], "plate.late": [5, 6]}  # cached by footage frame, each its own
    assert edit["computed"] == {15: 1, 16: 1, 33: 0, 34: 0}  # plate by the render; plate.late by the bake, kept
    assert edit["all_cached"] == {"plate": True, "plate.late": True}  # after both were computed: none cleared


def test_add_strip_chain_operator(fresh, tmp_path):
    scene = bpy.context.scene
    editor = sequencer_scene(scene)
    plate = add_movie(editor, "plate", 10, 5, duration=20)
    colour = editor.strips.new_effect("matte", "COLOR", channel=2, frame_start=1, length=5)
    editor.active_strip = colour
    assert not bpy.ops.instyle.add_strip_chain.poll()
    editor.active_strip = plate
    assert bpy.ops.instyle.add_strip_chain() == {"FINISHED"}
    modifier = plate.modifiers[0]
    assert (modifier.type, modifier.name) == ("COMPOSITOR", "instyle")
    tree = modifier.node_group
    links = {(l.from_node.bl_idname, l.to_node.bl_idname) for l in tree.links}
    assert links == {("NodeGroupInput", "InstyleInstanceMaskNode"),
                     ("InstyleInstanceMaskNode", "InstyleInstanceTrackerNode"),
                     ("InstyleInstanceTrackerNode", "InstyleNeuralStyleNode"),
                     ("InstyleNeuralStyleNode", "InstyleMRFBlendNode"),
                     ("InstyleMRFBlendNode", "NodeGroupOutput")}
    (chain,) = fresh.compute.chains_of(scene)
    assert [n.bl_idname for n in chain.nodes] == ["InstyleInstanceMaskNode", "InstyleInstanceTrackerNode",
                                                  "InstyleNeuralStyleNode", "InstyleMRFBlendNode"]
    assert chain.source_for(15) == {"kind": "file", "path": str(VTEST), "frame": 5}
    assert not chain.shows(14) and chain.shows(15) and chain.shows(34) and not chain.shows(35)
    tracker = chain.pipeline()[1]
    assert tracker["params"]["shot_start"] == 5  # -2: the footage frame the strip starts showing
    assert tracker["write"].startswith(str(fresh.paths.node_dir(chain.nodes[1].cache_id) / "strips"))


def test_image_strip_reads_the_files_the_sequencer_shows(fresh, tmp_path):
    bpy.data.images.new("px", 4, 4).save(filepath=str(tmp_path / "plate.1001.png"))
    for number in range(1002, 1007):
        shutil.copy(tmp_path / "plate.1001.png", tmp_path / f"plate.{number}.png")
    scene = bpy.context.scene
    editor = sequencer_scene(scene)
    strip = editor.strips.new_image("plate", str(tmp_path / "plate.1001.png"), channel=1, frame_start=20)
    for number in range(1002, 1007):
        strip.elements.append(f"plate.{number}.png")
    strip.animation_offset_start, strip.frame_offset_start = 1, 2
    editor.active_strip = strip
    assert bpy.ops.instyle.add_strip_chain() == {"FINISHED"}
    (chain,) = fresh.compute.chains_of(scene)
    shown = range(strip.frame_final_start, strip.frame_final_end)
    assert list(shown) == [22, 23, 24]
    for frame in shown:
        number = int(strip.strip_elem_from_frame(frame).filename.split(".")[1])
        assert chain.source_for(frame) == {"kind": "file", "path": str(tmp_path / "plate.####.png"), "frame": number}


def test_strip_timing_instyle_cannot_follow_is_refused(fresh, tmp_path):
    scene = bpy.context.scene
    editor = sequencer_scene(scene)
    plate = add_movie(editor, "plate", 10, 5)
    editor.active_strip = plate
    bpy.ops.instyle.add_strip_chain()
    scene.render.fps = 24
    with pytest.raises(fresh.chain.ChainError, match="runs at 10 fps and the scene at 24 fps"):
        fresh.compute.chains_of(scene)
    scene.render.fps = FPS
    other = editor.strips.new_movie("plate.001", str(VTEST), channel=2, frame_start=16)
    with bpy.context.temp_override(sequencer_scene=scene):
        other.modifiers.new(name="instyle", type="COMPOSITOR").node_group = plate.modifiers[0].node_group
    with pytest.raises(fresh.chain.ChainError, match="plate and plate.001 both show node group .* at frame 16"):
        fresh.compute.chains_of(scene)
    other.mute = True
    assert len(fresh.compute.chains_of(scene)) == 1
    speed = editor.strips.new_effect("speed", "SPEED", channel=3, frame_start=15, length=2, input1=plate)
    with pytest.raises(fresh.chain.ChainError, match="Speed effect speed retimes it"):
        fresh.compute.chains_of(scene)
    editor.strips.remove(speed)
    scene.render.use_sequencer = False
    assert fresh.compute.chains_of(scene) == []
