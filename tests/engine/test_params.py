"""Typed stage parameters: defaults, validation and the handshake description."""

from __future__ import annotations

import pytest

from instyle.params import ParamError
from instyle.stages import STAGES


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
