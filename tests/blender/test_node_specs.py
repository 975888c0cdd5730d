"""Every instyle node against the engine it talks to: each parameter of its stage, as the running engine's handshake
describes it, is held by the node with the same name, tooltip, default, range and choices, or in the one other
form `node_params.FORMS` names for it; the node body shows a few main settings and the sidebar every one."""

from __future__ import annotations

import bpy
import pytest

from .test_neural_style_node import body, drawn

KINDS = {"int": "INT", "float": "FLOAT", "bool": "BOOLEAN", "str": "STRING", "enum": "ENUM"}


@pytest.fixture
def nodes(fresh):
    tree = bpy.data.node_groups.new("t", "CompositorNodeTree")
    return {cls.STAGE: tree.nodes.new(cls.bl_idname) for cls in fresh.nodes.NODE_CLASSES}


def same(value, expected) -> bool:
    return value == (pytest.approx(expected) if isinstance(expected, float) else expected)


def test_every_node_holds_every_parameter_of_its_stage_as_the_engine_describes_it(fresh, nodes):
    stages, node_params = fresh.engine_link.client().stages, fresh.node_params
    assert list(nodes) == list(stages)
    assert all(name in stages[stage]["params"] for stage, name in node_params.FORMS), "a form of no parameter"
    for stage, node in nodes.items():
        described, sent = stages[stage]["params"], node.stage_params()
        assert list(sent) == list(described), stage
        for name, spec in described.items():
            where = f"{stage}.{name}"
            plain = (stage, name) not in node_params.FORMS
            if (stage, name) == ("instance_tracker", "shot_start"):  # the node's one value the engine lacks
                assert sent[name] == node_params.SCENE_START < spec["min"], where
            else:
                assert same(sent[name], spec["default"]), (where, sent[name])
            held = node.bl_rna.properties[node_params.holder(stage, name)]
            if node_params.form(stage, fresh.wire.stage_specs.SPECS[stage].by_name[name]).declare is None:
                # a table of rows the node declares itself
                assert held.type == "COLLECTION" and held.description, where
                continue
            assert held.name == spec["label"] and held.description.startswith(spec["doc"]), where
            assert not plain or (held.type == KINDS[spec["type"]] and held.description == spec["doc"]), where
            if spec["type"] in ("int", "float"):
                low = node_params.SCENE_START if name == "shot_start" else spec["min"]
                assert (held.hard_min, held.hard_max) == (pytest.approx(low), pytest.approx(spec["max"])), where
            if spec["type"] == "enum":
                items = [(i.identifier, i.name, i.description) for i in held.enum_items]
                assert items == list(zip(spec["choices"], spec["choice_labels"], spec["choice_docs"])), where


def test_every_plain_property_sends_what_it_is_set_to(fresh, nodes):
    for stage, node in nodes.items():
        for param in fresh.wire.stage_specs.SPECS[stage].params:
            if (stage, param.name) in fresh.node_params.FORMS:
                continue
            value = (param.values[-1] if param.kind == "enum" else "1, 2" if param.kind == "str"
                     else int(param.maximum) if param.kind == "int" else param.maximum)
            setattr(node, param.name, value)
            assert same(node.stage_params()[param.name], value), (stage, param.name)


def test_the_node_body_shows_a_few_main_settings_and_the_sidebar_every_one(fresh, nodes):
    for stage, node in nodes.items():
        settings = set(fresh.node_params.declared(stage))
        assert node.width >= 200 and 1 <= len(set(body(node)) & settings) <= 3, stage
        shown = set(drawn(node))
        if stage == "neural_style":  # the options of other methods and assignments, as they are chosen
            for method, assign, mix in (("optimise", "class", "none"), ("fast", "foreground", "style07")):
                node.method, node.assign, node.mix_style = method, assign, mix
                shown |= set(drawn(node))
        shown |= {name.split(":")[1] for name in shown if name.startswith(("grid:", "picker:"))}
        assert settings <= shown, (stage, settings - shown)
