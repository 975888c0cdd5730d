"""The fixed styles' preview icons in the installed extension: loaded at register from the zip's previews/, freed
at unregister, and the Neural Style node's picker for `style` and `mix_style` (plain names without them)."""

from __future__ import annotations

import itertools
from pathlib import Path

import addon_utils
import bpy
import numpy as np

from .conftest import ADDON, read_png
from .test_neural_style_node import body, drawn, node  # noqa: F401 (node: the fixture)

STYLE_NAMES = [f"style{i:02d}" for i in range(26)]


def preview_rgb(preview) -> np.ndarray:
    """uint8 HxWx3, top row first, of a bpy.types.ImagePreview's image."""
    w, h = preview.image_size
    data = np.array(preview.image_pixels_float[:], np.float32)
    return np.round(data.reshape(h, w, 4)[::-1, :, :3] * 255).astype(np.uint8)


def test_each_fixed_style_has_a_loaded_preview_matching_its_shipped_png(addon):
    folder = Path(addon.__file__).parent / "previews"
    assert sorted(p.name for p in folder.glob("*.png")) == [f"{name}.png" for name in STYLE_NAMES]
    previews = addon.style_previews.previews()
    assert sorted(previews) == STYLE_NAMES
    images = {}
    for name, preview in previews.items():
        images[name] = rgb = preview_rgb(preview)
        shipped = read_png(folder / f"{name}.png")
        assert rgb.shape == shipped.shape == (128, 128, 3), name
        assert np.abs(rgb.astype(int) - shipped).max() <= 1, name
        assert rgb.std() > 20, f"{name} is nearly flat"
    for a, b in itertools.combinations(STYLE_NAMES, 2):
        assert np.abs(images[a].astype(int) - images[b]).mean() > 5, f"{a} and {b} look the same"


def test_the_node_picks_its_styles_from_the_preview_grid_or_by_name_without_previews(fresh, node, tmp_path):
    shown = drawn(node)
    assert {"grid:style", "grid:mix_style", "style", "mix_style"} <= set(shown)
    assert "grid:style" in body(node) and "grid:mix_style" not in body(node)  # the node body: its style only
    node.method = "arbitrary"
    assert not {"grid:style", "grid:mix_style"} & set(drawn(node))
    node.method = "fast"
    try:
        fresh.style_previews.load(tmp_path / "no-previews")
        assert fresh.style_previews.previews() == {}
        shown = drawn(node)
        assert {"style", "mix_style"} <= set(shown) and not {"grid:style", "grid:mix_style"} & set(shown)
        node.style, node.mix_style = "style11", "style25"
        assert (node.stage_params()["style"], node.stage_params()["mix_style"]) == ("style11", "style25")
    finally:
        fresh.style_previews.load()
    assert sorted(fresh.style_previews.previews()) == STYLE_NAMES


def test_previews_are_freed_when_the_extension_is_disabled_and_reloaded_when_enabled(fresh):
    addon_utils.disable(ADDON, default_set=True)
    try:
        assert fresh.style_previews.previews() == {}
    finally:
        addon_utils.enable(ADDON, default_set=True)
    assert sorted(fresh.style_previews.previews()) == STYLE_NAMES
    tree = bpy.data.node_groups.new("t", "CompositorNodeTree")
    again = tree.nodes.new("InstyleNeuralStyleNode")
    assert [item.identifier for item in again.bl_rna.properties["style"].enum_items] == STYLE_NAMES
    assert (again.style, again.mix_style) == ("style03", "none")
    assert {"grid:style", "grid:mix_style"} <= set(drawn(again))
