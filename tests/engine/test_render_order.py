"""A frame renders the same whatever was rendered before it (farm chunks, seeks, shuffled frames): the Instance
Tracker's `prepare` leaves the Instance Mask stage's memory as a render in order leaves it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from instyle.service import Service
from instyle.wire.requests import parse_run

from ..conftest import VTEST


def pipeline(quality: str, temporal: float) -> list[dict]:
    return [{"stage": "instance_mask", "params": {"quality": quality}},
            {"stage": "instance_tracker", "params": {"shot_start": 0}},
            {"stage": "neural_style", "params": {"temporal": temporal}},
            {"stage": "mrf_blend", "params": {}, "return": ["image"]}]


def render(service: Service, frames, steps: list[dict]) -> dict[int, np.ndarray]:
    """mrf_blend's image (float32 HxWx3) of each frame of vtest, rendered in the order given."""
    out = {}
    for index in frames:
        reply, payloads = service.run(parse_run({"id": 1, "shot": "s", "pipeline": steps,
                                       "source": {"kind": "file", "path": str(VTEST), "frame": index}}), [])
        spec = reply["arrays"]["mrf_blend.image"]
        out[index] = np.frombuffer(payloads[spec["payload"]], np.float32).reshape(spec["shape"])
    return out


@pytest.mark.parametrize("quality, in_order, shuffled", [("faster", range(6), (5, 2, 3)), ("better", range(3), (2,))])
def test_frames_rendered_alone_or_shuffled_match_the_render_in_order(quality, in_order, shuffled):
    steps = pipeline(quality, temporal=0.0)
    reference = render(Service(torch.device("cpu")), in_order, steps)
    alone = render(Service(torch.device("cpu")), shuffled, steps)
    for index, image in alone.items():
        assert np.array_equal(image, reference[index]), f"{quality} frame {index}"


def test_with_temporal_stabilisation_frames_alone_stay_within_a_few_levels_of_the_render_in_order():
    """Rendering in order reuses the previous frame's renderings where they cover the new crops; alone, they
    are rendered again: a difference on a few pixels at the crops' edges, nothing like a different mask."""
    steps = pipeline("faster", temporal=0.5)
    reference = render(Service(torch.device("cpu")), range(6), steps)
    alone = render(Service(torch.device("cpu")), (5, 3), steps)
    for index, image in alone.items():
        levels = np.abs(image - reference[index]) * 255
        assert (levels > 1).mean() < 1e-3 and levels.max() < 20, (index, (levels > 1).mean(), levels.max())
