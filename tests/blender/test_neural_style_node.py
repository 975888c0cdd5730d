"""The Neural Style node: its paintings (Image datablocks, in the node and in the track style table) sent as the
absolute files the engine reads, its table operators, and what its node body and sidebar show."""

from __future__ import annotations

import hashlib
import shutil

import bpy
import pytest

from ..conftest import OPENCV_DATA, VTEST

STARRY = OPENCV_DATA / "starry_night.jpg"


@pytest.fixture
def node(fresh):
    tree = bpy.context.scene.compositing_node_group = bpy.data.node_groups.new("t", "CompositorNodeTree")
    return tree.nodes.new("InstyleNeuralStyleNode")


def test_paintings_relative_to_the_saved_file_are_sent_absolute(fresh, tmp_path):
    shutil.copy(STARRY, tmp_path / "starry.jpg")
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    style = graph["neural_style"]
    painting = bpy.data.images.load(str(tmp_path / "starry.jpg"))
    painting.filepath = "//art/../starry.jpg"
    style.method, style.style_image = "arbitrary", painting
    row = style.track_styles.add()
    row.track_id, row.image = 2, painting
    style.class_styles = "person=//starry.jpg"
    with pytest.raises(ValueError, match="not saved yet"):
        style.stage_params()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    params = style.stage_params()
    image = str(tmp_path / "starry.jpg")
    assert (params["style_image"], params["track_styles"], params["class_styles"]) == (
        image, f"2={image}", f"person={image}")
    assert bpy.ops.instyle.bake() == {"FINISHED"}


def test_a_packed_painting_is_sent_as_a_copy_named_by_its_content_and_one_with_no_file_is_refused(fresh, node):
    painting = bpy.data.images.load(str(STARRY))
    painting.pack()
    node.method, node.style_image = "adain", painting
    sent = node.stage_params()["style_image"]
    data = STARRY.read_bytes()
    assert sent == str(fresh.paths.cache_root() / "paintings" / f"{hashlib.sha1(data).hexdigest()}.jpg")
    assert open(sent, "rb").read() == data and node.stage_params()["style_image"] == sent
    node.style_image = bpy.data.images.new("Painted", 8, 8)
    with pytest.raises(ValueError, match="Neural Style: Style Image: the image 'Painted' has no file"):
        node.stage_params()


def test_arbitrary_with_a_painting_per_track_needs_no_painting_on_the_node(fresh):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    style = graph["neural_style"]
    style.method = "arbitrary"
    row = style.track_styles.add()
    row.track_id, row.image = 1, bpy.data.images.load(str(STARRY))
    assert style.style_image is None
    assert bpy.ops.instyle.bake() == {"FINISHED"}
    assert style.status == "Baked 1 frame(s)", style.status


def test_a_class_typo_is_an_error_on_the_node_in_its_words(fresh):
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    style = graph["neural_style"]
    style.assign, style.class_styles = "class", "person=style03; preson=style05"
    with pytest.raises(RuntimeError, match="'preson' is not a class"):
        bpy.ops.instyle.bake()
    assert style.status.startswith("Error: Class Styles: 'preson' is not a class"), style.status


def test_table_rows_are_added_and_removed_by_their_operators(fresh, node):
    node.palette = "style05, style06"
    for _ in range(3):
        assert bpy.ops.instyle.track_style_add(node=node.name) == {"FINISHED"}
    assert [(r.track_id, r.style) for r in node.track_styles] == [(1, "style05"), (2, "style06"), (3, "style05")]
    node.track_styles[1].style = "style11+style12"
    node.track_styles_index = 0
    assert bpy.ops.instyle.track_style_remove(node=node.name) == {"FINISHED"}
    assert node.stage_params()["track_styles"] == "2=style11+style12; 3=style05"
    node.track_styles[1].image = bpy.data.images.load(str(STARRY))  # a painting takes the place of the text
    assert node.stage_params()["track_styles"] == f"2=style11+style12; 3={STARRY}"


class RecordingLayout:
    """Stands in for a UI layout (there is none without a window): records what is drawn, and checks that every
    drawn property, list and operator exists."""

    def __init__(self):
        self.drawn: list[str] = []

    def prop(self, data, name, **_):
        assert name in data.bl_rna.properties, name
        self.drawn.append(name)

    def operator(self, idname, **_):
        module, name = idname.split(".")
        properties = getattr(getattr(bpy.ops, module), name).get_rna_type().properties
        self.drawn.append(idname)
        return RecordedOperator(properties)

    def template_list(self, list_type, list_id, data, name, active_data, active_name, **_):
        assert hasattr(bpy.types, list_type) and name in data.bl_rna.properties
        assert active_name in active_data.bl_rna.properties
        self.drawn.append(name)

    def template_icon_view(self, data, name, show_labels=False, scale=6.0, scale_popup=5.0):
        assert data.bl_rna.properties[name].type == "ENUM", name
        self.drawn.append(f"grid:{name}")

    def label(self, text="", **_):
        self.drawn.append(text)

    def prop_search(self, data, name, search_data, search_name, **_):
        assert name in data.bl_rna.properties and search_name in search_data.bl_rna.properties, (name, search_name)
        self.drawn.append(name)

    def template_ID(self, data, name, open="", **_):
        prop = data.bl_rna.properties[name]
        assert prop.type == "POINTER" and prop.fixed_type.identifier == "Image", name
        assert not open or hasattr(bpy.ops.image, open.split(".")[1]), open
        self.drawn.append(f"picker:{name}")

    def row(self, **_):
        return self

    column = box = split = row


class RecordedOperator:
    def __init__(self, properties):
        object.__setattr__(self, "properties", properties)

    def __setattr__(self, name, value):
        assert name in self.properties, name


def drawn(node) -> list[str]:
    """What the sidebar (N panel, Node tab) shows of `node`."""
    layout = RecordingLayout()
    type(node).draw_buttons_ext(node, bpy.context, layout)  # the Python method: RNA would want a real UILayout
    return layout.drawn


def body(node) -> list[str]:
    """What the node body shows."""
    layout = RecordingLayout()
    type(node).draw_buttons(node, bpy.context, layout)
    return layout.drawn


def test_the_node_body_shows_the_main_settings_and_the_sidebar_the_options_of_the_method(fresh, node):
    assert node.width == 240
    shown = body(node)
    assert shown[:2] == ["method", "grid:style"] and {"style", "assign", "instyle.bake"} <= set(shown)
    assert not {"mix_style", "palette", "track_styles", "strength", "temporal"} & set(shown)
    node.method = "arbitrary"
    assert "picker:style_image" in body(node) and "grid:style" not in body(node)
    node.method = "fast"
    shown = drawn(node)
    assert {"method", "style", "mix_style", "assign", "palette", "track_styles", "instyle.track_style_add",
            "instyle.track_style_remove", "strength", "temporal", "instyle.bake"} <= set(shown)
    assert not {"mix", "picker:style_image", "class_styles", "background_style", "iterations", "features"} & set(shown)
    node.mix_style = "style07"
    assert "mix" in drawn(node)
    node.method, node.assign = "optimise", "class"
    shown = drawn(node)
    assert {"picker:style_image", "class_styles", "iterations", "style_weight", "features"} <= set(shown)
    assert not {"style", "mix_style", "palette", "track_styles"} & set(shown)
    node.method, node.assign = "arbitrary", "foreground"
    shown = drawn(node)
    assert "background_style" in shown and not {"iterations", "class_styles"} & set(shown)


def test_each_track_style_row_shows_its_id_its_style_text_and_a_painting_picker(fresh, node):
    assert bpy.ops.instyle.track_style_add(node=node.name) == {"FINISHED"}
    row, layout = node.track_styles[0], RecordingLayout()
    fresh.track_styles.INSTYLE_UL_track_styles.draw_item(None, bpy.context, layout, node, row, 0, node,
                                                         "track_styles_index", 0)
    assert layout.drawn == ["track_id", "style", "picker:image"] and layout.active
    row.image = bpy.data.images.load(str(STARRY))
    fresh.track_styles.INSTYLE_UL_track_styles.draw_item(None, bpy.context, layout, node, row, 0, node,
                                                         "track_styles_index", 0)
    assert not layout.active  # the text is greyed out: the painting takes its place
