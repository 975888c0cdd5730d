"""The Neural Style node against the engine it talks to: every parameter of the stage, as the engine's handshake
describes it, is a property of the node with the same default, range, choices and description."""

from __future__ import annotations

import shutil

import bpy
import pytest

from ..conftest import OPENCV_DATA, VTEST


@pytest.fixture
def node(fresh):
    tree = bpy.context.scene.compositing_node_group = bpy.data.node_groups.new("t", "CompositorNodeTree")
    return tree.nodes.new("InstyleNeuralStyleNode")


def test_node_mirrors_every_engine_parameter(fresh, node):
    spec = fresh.engine_link.client().stages["neural_style"]["params"]
    assert type(node).PROPS == tuple(spec)
    params = node.stage_params()
    assert list(params) == list(spec)
    for name, described in spec.items():
        prop = node.bl_rna.properties[name]
        assert prop.description == described["doc"], name
        default = described["default"]
        assert params[name] == (pytest.approx(default) if described["type"] == "float" else default), name
        if described["type"] in ("int", "float"):
            assert (prop.hard_min, prop.hard_max) == (pytest.approx(described["min"]),
                                                      pytest.approx(described["max"])), name
        if described["type"] == "enum":
            assert [item.identifier for item in prop.enum_items] == described["choices"], name
        if described["type"] == "enum_list":
            assert set(default) <= set(described["choices"])


def test_style_paths_relative_to_the_saved_file_are_sent_absolute(fresh, tmp_path):
    shutil.copy(OPENCV_DATA / "starry_night.jpg", tmp_path / "starry.jpg")
    scene = bpy.context.scene
    graph = fresh.graph_setup.footage_graph(scene, str(VTEST), 1)
    style = graph["neural_style"]
    style.method, style.style_image = "arbitrary", "//art/../starry.jpg"
    row = style.track_styles.add()
    row.track_id, row.style = 2, "//starry.jpg"
    style.class_styles = "person=//starry.jpg"
    with pytest.raises(ValueError, match="not saved yet"):
        style.stage_params()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    params = style.stage_params()
    image = str(tmp_path / "starry.jpg")
    assert (params["style_image"], params["track_styles"], params["class_styles"]) == (
        image, f"2={image}", f"person={image}")
    assert bpy.ops.instyle.bake() == {"FINISHED"}


def test_table_rows_are_added_and_removed_by_their_operators(fresh, node):
    node.palette = "style05, style06"
    for _ in range(3):
        assert bpy.ops.instyle.track_style_add(node=node.name) == {"FINISHED"}
    assert [(r.track_id, r.style) for r in node.track_styles] == [(1, "style05"), (2, "style06"), (3, "style05")]
    node.track_styles[1].style = "style11+style12"
    node.track_styles_index = 0
    assert bpy.ops.instyle.track_style_remove(node=node.name) == {"FINISHED"}
    assert node.stage_params()["track_styles"] == "2=style11+style12; 3=style05"


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

    def row(self, **_):
        return self

    column = box = row


class RecordedOperator:
    def __init__(self, properties):
        object.__setattr__(self, "properties", properties)

    def __setattr__(self, name, value):
        assert name in self.properties, name


def drawn(node) -> list[str]:
    layout = RecordingLayout()
    type(node).draw_buttons(node, bpy.context, layout)  # the Python method: RNA would want a real UILayout
    return layout.drawn


def test_only_the_options_of_the_chosen_method_and_assignment_are_drawn(fresh, node):
    shown = drawn(node)
    assert {"method", "style", "mix_style", "assign", "palette", "track_styles", "instyle.track_style_add",
            "instyle.track_style_remove", "strength", "temporal", "instyle.bake"} <= set(shown)
    assert not {"mix", "style_image", "class_styles", "background_style", "iterations", "features"} & set(shown)
    node.mix_style = "style07"
    assert "mix" in drawn(node)
    node.method, node.assign = "optimise", "class"
    shown = drawn(node)
    assert {"style_image", "class_styles", "iterations", "style_weight", "features"} <= set(shown)
    assert not {"style", "mix_style", "palette", "track_styles"} & set(shown)
    node.method, node.assign = "arbitrary", "foreground"
    shown = drawn(node)
    assert "background_style" in shown and not {"iterations", "class_styles"} & set(shown)
