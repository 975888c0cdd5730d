"""An artist adds a person the models missed with a Blender Mask drawn on one frame: in real Blender, the person
is styled in every frame of the shot, in one style and with one id, whatever order the frames render in."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from ..conftest import VTEST
from .conftest import read_png, view
from .test_neural_style_node import drawn
from .test_track_analysis import core, ids_in, render_in_order, tracks_pass

FRAMES = 4
DRAWN_ON = 2  # the scene frame the Mask is drawn on
OUT_OF_ORDER = (3, 1, 4, 2)


def to_mask_space(x: float, y: float, size: tuple[int, int]) -> tuple[float, float]:
    """Pixel (x right, y down) -> Blender mask coordinates (the inverse of addon/mask_outline.to_pixels)."""
    w, h = size
    s = max(w, h)
    return (x - w / 2) / s + 0.5, ((h - y) - h / 2) / s + 0.5


def draw_mask(name: str, outline: list[tuple[float, float]], size: tuple[int, int]):
    """A Blender Mask with one closed spline of straight sides through `outline` (pixels of a frame of `size`)."""
    mask = bpy.data.masks.new(name)
    spline = mask.layers.new(name="person").splines.new()
    spline.points.add(len(outline) - len(spline.points))
    for point, (x, y) in zip(spline.points, outline):
        point.co = to_mask_space(x, y, size)
        point.handle_type = "VECTOR"
    spline.use_cyclic = True
    return mask


def octagon(region: np.ndarray) -> list[tuple[float, float]]:
    """A rough outline an artist might draw around a region (bool HxW): the octagon in its bounding box."""
    ys, xs = np.nonzero(region)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    dx, dy = (x1 - x0) / 4, (y1 - y0) / 6
    return [(x0 + dx, y0), (x1 - dx, y0), (x1, y0 + dy), (x1, y1 - dy), (x1 - dx, y1), (x0 + dx, y1),
            (x0, y1 - dy), (x0, y0 + dy)]


def test_a_person_added_with_a_mask_is_styled_in_every_frame_in_one_style_in_any_order(fresh, tmp_path):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), FRAMES)
    tracker, mask_node = graph["instance_tracker"], graph["instance_mask"]
    view(tracker.outputs["Tracks"])  # `tracks_pass` reads it
    size = tuple(graph["source"].clip.size)
    scene.render.filepath = str(tmp_path / "seen" / "######")
    seen_styles = render_in_order(fresh, scene, range(1, FRAMES + 1))
    seen = {f: tracks_pass(fresh, tracker, f) for f in range(1, FRAMES + 1)}
    everywhere = set.intersection(*(ids_in(t) for t in seen.values()))
    target = max(everywhere, key=lambda t: (seen[DRAWN_ON] == t).sum())
    row = graph["neural_style"].track_styles.add()  # the added person in the style the detected one had
    row.track_id, row.style = 1001, seen_styles[DRAWN_ON][target]

    # The detector now finds no one, as on footage where it misses this person; the artist outlines them.
    mask_node.score_threshold = mask_node.weak_threshold = 1.0
    scene.frame_set(DRAWN_ON)
    draw_mask("Missed", octagon(seen[DRAWN_ON] == target), size)
    with pytest.raises(RuntimeError, match="no Mask named 'Nothing'"):
        bpy.ops.instyle.add_person(node=tracker.name, mask="Nothing")
    assert bpy.ops.instyle.add_person(node=tracker.name, mask="Missed") == {"FINISHED"}
    assert [(p.track_id, p.scene_frame, p.footage_frame) for p in tracker.added_people] == [(1001, DRAWN_ON, 1)]
    shown = drawn(tracker)
    assert "added 1001: 'Missed', frame 2" in shown and {"instyle.add_person", "instyle.cut_region"} <= set(shown)

    styles = {}
    for frame in OUT_OF_ORDER:
        scene.frame_set(frame)
        scene.render.filepath = str(tmp_path / "added" / f"{frame:06d}")
        bpy.ops.render.render(write_still=True)
        assert not fresh.render_hooks.failures, fresh.render_hooks.failures
        styles[frame] = {i["track_id"]: i["style"] for i in fresh.render_hooks.last_replies[frame][0]["instances"]}
    assert len({s[1001] for s in styles.values()}) == 1 and all(list(s) == [1001] for s in styles.values()), styles
    for frame in range(1, FRAMES + 1):
        tracks = tracks_pass(fresh, tracker, frame)
        assert ids_in(tracks) == {1001}, frame
        added, truth = tracks == 1001, seen[frame] == target
        assert (added & truth).sum() >= 0.4 * (added | truth).sum(), f"frame {frame}: the added mask left the person"
        source = read_png(tmp_path / "seen" / f"{frame:06d}.png")
        styled = read_png(tmp_path / "added" / f"{frame:06d}.png")
        inside = core(added & truth)
        assert inside.sum() > 100
        levels = np.abs(source[inside].astype(int) - styled[inside].astype(int)).mean()
        assert levels < 3, f"frame {frame}: {levels} levels from the detected person's rendering in that style"

    # the top third of the box, cut from person 1001 on the drawn frame, is cut on every frame
    ys, xs = np.nonzero(tracks_pass(fresh, tracker, DRAWN_ON) == 1001)
    third = ys.min() + (ys.max() - ys.min()) / 3
    draw_mask("Head", [(xs.min() - 5, ys.min() - 5), (xs.max() + 5, ys.min() - 5), (xs.max() + 5, third),
                       (xs.min() - 5, third)], size)
    tracker.cut_id = 1001
    assert bpy.ops.instyle.cut_region(node=tracker.name, mask="Head", track_id=1001) == {"FINISHED"}
    assert '"id": 1001' in tracker.stage_params()["cut"]
    scene.frame_set(4)
    bpy.ops.render.render(write_still=True)
    assert not fresh.render_hooks.failures, fresh.render_hooks.failures
    ys4, _ = np.nonzero(tracks_pass(fresh, tracker, 4) == 1001)
    assert len(ys4) > 100 and ys4.min() > ys.min() + 0.2 * (ys.max() - ys.min()), "the head stays cut"

    assert bpy.ops.instyle.remove_outline(node=tracker.name, collection="cut_regions", index=0) == {"FINISHED"}
    assert bpy.ops.instyle.remove_outline(node=tracker.name, collection="added_people", index=0) == {"FINISHED"}
    assert not tracker.stage_params()["added"] and not tracker.stage_params()["cut"]
