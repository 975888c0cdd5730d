"""The pipeline benchmark's parts: its pipelines are valid engine requests, and its measures measure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from instyle.bench import BenchContext
from instyle.bench.pipeline import Scores, band_and_background, pipelines, psnr, record_scores
from instyle.wire.requests import parse_pipeline


@pytest.mark.parametrize("name", ["instyle", "CBS", "IST", "LST"])
def test_each_pipeline_is_a_valid_engine_pipeline(name):
    parse_pipeline(pipelines()[name])


def test_the_baselines_are_the_published_recipes():
    stages = {name: {s["stage"]: s["params"] for s in p} for name, p in pipelines().items()}
    assert list(stages["CBS"]) == ["instance_mask", "neural_style", "mrf_blend"]
    assert stages["CBS"]["neural_style"]["region"] == "frame" and stages["CBS"]["mrf_blend"] == {"mode": "naive"}
    assert stages["IST"]["instance_tracker"] == {"method": "centre"}
    assert stages["IST"]["neural_style"]["region"] == "crops" and stages["IST"]["mrf_blend"] == {"mode": "naive"}
    assert stages["LST"]["neural_style"]["method"] == "optimise" and stages["LST"]["mrf_blend"] == {"mode": "mrf"}
    assert all(stages[n]["neural_style"]["temporal"] == 0 for n in ("CBS", "IST", "LST"))
    assert all(params == {} for params in stages["instyle"].values())
    assert all(stages[n]["instance_mask"] == {} for n in stages)  # the same masks for all


def test_band_and_background_split_a_rectangle_by_distance_from_its_edge():
    mask = np.zeros((40, 50), np.float32)
    mask[10:30, 15:35] = 1.0
    near, background = band_and_background(mask, band=6.0)
    # within 6 / 2 + 1 = 4 px of the edge: 3.5 px deep inside (rows 10-13), 3.5 px outside (rows 6-9)
    column = near[:, 25]
    assert np.flatnonzero(column).tolist() == [*range(6, 14), *range(26, 34)]
    # the background is 3 px (band / 2) or more outside the edge: rows 7-9 and 30-32 (2.5 px or less) are not
    assert np.flatnonzero(~background[:, 25]).tolist() == list(range(7, 33))
    assert np.flatnonzero((near & background)[:, 25]).tolist() == [6, 33]  # the band's outer pixels
    assert background[0, 0] and not background[20, 25] and not near[20, 25]


def test_psnr_is_infinite_only_for_identical_pixels():
    assert psnr(0.0) == math.inf
    assert psnr(1e-4) == pytest.approx(40.0)


def test_recorded_scores_leave_out_the_shots_first_frame_and_count_people():
    scores = Scores(timings=[{"instance_mask": 900.0, "total": 1000.0}, {"instance_mask": 50.0, "total": 150.0},
                             {"instance_mask": 70.0, "total": 170.0}, {"instance_mask": 60.0, "total": 400.0}],
                    people=[2, 3, 4, 6], warping=[0.002, 0.004, 0.003], seams=[1e-4, 3e-4, 2e-4, 2e-4],
                    background_mse=[0.0, 0.0, 0.0, 0.0], background_changed=[0, 0, 0, 0])
    ctx = BenchContext("cpu", quick=True)
    record_scores(ctx, "768x576", "instyle", scores, 4, "note")
    got = {f.name: f for f in ctx.figures}
    assert got["instyle: total"].median == 170.0 and got["instyle: total"].repeats == 3
    assert got["instyle: instance_mask"].median == 60.0
    assert got["instyle: total, frames with <= 4 people"].median == 160.0  # frames 1 and 2
    assert got["instyle: warping error"].median == pytest.approx(3.0)
    assert got["instyle: seam excess"].median == pytest.approx(2.0)
    assert got["instyle: background PSNR"].median == math.inf
    assert got["instyle: background pixels changed"].median == 0
    scores.background_mse[2], scores.background_changed[2] = 1e-4, 12
    ctx = BenchContext("cpu", quick=True)
    record_scores(ctx, "768x576", "instyle", scores.first(3), 3, "note")
    got = {f.name: f for f in ctx.figures}
    assert got["instyle: background PSNR"].median == pytest.approx(10 * math.log10(3e4))  # mean squared error 1e-4 / 3
    assert got["instyle: background pixels changed"].median == 12
    assert got["instyle: warping error"].repeats == 2
