"""Typed stage parameters: defaults, validation and the handshake description."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from instyle import wire
from instyle.stages import STAGES
from instyle.wire.params import ParamError
from instyle.wire.stage_specs import SPECS


def test_defaults_resolve_and_describe():
    for module in STAGES.values():
        spec = module.SPEC
        resolved = spec.resolve({})
        assert set(resolved) == {p.name for p in spec.params}
        described = spec.describe()["params"]
        for p in spec.params:
            assert described[p.name]["type"] == p.kind


@pytest.mark.parametrize("stage, params, fragment", [
    ("mrf_blend", {"band": -1.0}, "outside"),
    ("mrf_blend", {"band": "wide"}, "must be a float"),
    ("instance_mask", {"max_instances": 2.5}, "must be an int"),
    ("instance_mask", {"classes": []}, "non-empty"),
    ("instance_mask", {"classes": ["person", "unicorn"]}, "'unicorn'"),
    ("neural_style", {"assign": "people"}, "not one of"),
    ("neural_style", {"style_image": 3}, "must be a string"),
    ("neural_style", {"style": "vangogh"}, "not one of"),
    ("instance_tracker", {"max_distance": float("nan")}, "outside"),
    ("instance_tracker", {"speed": 1}, "has no parameter 'speed'"),
])
def test_bad_values_name_the_parameter(stage, params, fragment):
    with pytest.raises(ParamError) as err:
        STAGES[stage].SPEC.resolve(params)
    assert fragment in str(err.value) and stage in str(err.value)


def test_the_stages_run_the_specs_the_wire_package_ships():
    assert list(STAGES) == list(SPECS)
    assert all(STAGES[name].SPEC is SPECS[name] for name in SPECS)


def test_every_parameter_has_what_a_node_property_is_built_from():
    """A label, a tooltip, a default its own validation accepts, and a label and tooltip for each choice."""
    for spec in SPECS.values():
        for p in spec.params:
            assert p.title and p.doc[:1].isupper() and not p.doc.endswith("."), (spec.name, p.name)
            sent = list(p.default) if isinstance(p.default, tuple) else p.default
            assert spec.resolve({p.name: sent})[p.name] == p.default, (spec.name, p.name)
            assert (p.kind in ("enum", "enum_list")) == bool(p.choices), (spec.name, p.name)
            assert len(set(p.values)) == len(p.choices) and all(c.label and c.doc for c in p.choices)
            described = spec.describe()["params"][p.name]
            assert described["label"] == p.title and described.get("choice_labels", []) == [
                c.label for c in p.choices]


def test_the_wire_package_imports_only_the_standard_library():
    """The add-on ships it as it is, into Blender's Python."""
    for path in sorted((Path(wire.__file__).parent).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [] if node.level else [node.module]
            else:
                continue
            assert all(n.split(".")[0] in sys.stdlib_module_names for n in names), (path.name, names)
