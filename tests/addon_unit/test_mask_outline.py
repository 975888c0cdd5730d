"""Blender Mask splines to footage pixels (addon/mask_outline.py, bpy-free). The mapping was measured in bpy
5.0.1 by rendering a Mask through the compositor's Mask node on 200x100 and 100x200 frames; the Blender test of
added people checks it end to end."""

from __future__ import annotations

import numpy as np
import pytest

from .test_frame_map_and_cache import load

mask_outline = load("mask_outline")


@pytest.mark.parametrize("size, uv, pixel", [
    ((200, 100), (0.2, 0.5), (40, 50)),  # landscape: the width spans 0..1
    ((200, 100), (0.4, 0.6), (80, 30)),  # y up: above the centre is a smaller row
    ((100, 200), (0.4, 0.5), (30, 100)),  # portrait: the height spans 0..1, centred
    ((100, 200), (0.6, 0.6), (70, 80)),
])
def test_mask_coordinates_map_to_the_pixels_blender_rasterises(size, uv, pixel):
    assert mask_outline.to_pixels(*uv, size) == pytest.approx(pixel)


def test_vector_handles_give_straight_sides_and_bezier_handles_curves():
    corners = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)]
    square = [(c, c, c) for c in corners]  # handles on the points: straight sides
    line = np.array(mask_outline.outline(square, True, (100, 100)))
    assert len(line) == 4 * mask_outline.STEPS
    on_sides = np.isclose(line[:, 0], 25) | np.isclose(line[:, 0], 75) | np.isclose(line[:, 1], 25) | \
        np.isclose(line[:, 1], 75)
    assert on_sides.all() and line.min() == pytest.approx(25) and line.max() == pytest.approx(75)
    bulging = [(p, (p[0] - 0.1, p[1] - 0.2), (p[0] + 0.1, p[1] - 0.2)) for p in [(0.3, 0.5), (0.7, 0.5)]]
    curve = np.array(mask_outline.outline(bulging, False, (100, 100)))
    assert len(curve) == mask_outline.STEPS + 1 and curve[-1] == pytest.approx([70, 50])
    assert curve[:, 1].max() > 60, "handles below the points pull the curve down the frame (higher rows)"
