"""The pipeline benchmark's parts: its pipelines are valid engine requests, and its measures measure."""

from __future__ import annotations

import numpy as np
import pytest

from instyle.bench import BenchContext
from instyle.bench.pipeline import STYLE, Scores, band_and_background, pipelines, record_scores, run
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
    assert all(params == {} for stage, params in stages["instyle"].items() if stage != "neural_style")
    assert stages["instyle"]["neural_style"] == {**STYLE, "method": "arbitrary"}  # else at its defaults
    assert all(stages[n]["instance_mask"] == {} for n in stages)  # the same masks for all


def test_every_pipeline_styles_every_person_in_the_same_style():
    styles = {name: {k: v for k, v in next(s for s in p if s["stage"] == "neural_style")["params"].items()
                     if k in ("assign", "style_image", "style", "palette", "track_styles", "class_styles")}
              for name, p in pipelines().items()}
    assert all(style == STYLE for style in styles.values()), styles


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


def test_recorded_scores_leave_out_the_shots_first_frame_and_count_people():
    scores = Scores(timings=[{"instance_mask": 900.0, "total": 1000.0}, {"instance_mask": 50.0, "total": 150.0},
                             {"instance_mask": 70.0, "total": 170.0}, {"instance_mask": 60.0, "total": 400.0}],
                    people=[2, 3, 4, 6], warping=[0.002, 0.004, 0.003], seams=[1e-4, 3e-4, 2e-4, 2e-4],
                    background_changed=[0, 0, 0, 0])
    ctx = BenchContext("cpu", quick=True)
    record_scores(ctx, "768x576", "instyle", scores, 4, "note")
    got = {f.name: f for f in ctx.figures}
    assert got["instyle: total"].median == 170.0 and got["instyle: total"].repeats == 3
    assert got["instyle: instance_mask"].median == 60.0
    assert got["instyle: total, frames with <= 4 people"].median == 160.0  # frames 1 and 2
    assert got["instyle: warping error"].median == pytest.approx(3.0)
    assert got["instyle: seam excess"].median == pytest.approx(2.0)
    assert got["instyle: background pixels changed"].median == 0 and "instyle: background PSNR" not in got
    scores.background_changed[2] = 12
    ctx = BenchContext("cpu", quick=True)
    record_scores(ctx, "768x576", "instyle", scores.first(3), 3, "note")
    got = {f.name: f for f in ctx.figures}
    assert got["instyle: background pixels changed"].median == 12
    assert got["instyle: warping error"].repeats == 2


@pytest.mark.slow
def test_the_quick_run_scores_every_pipeline_and_states_lsts_steps():
    ctx = BenchContext("cpu", quick=True)
    run(ctx)
    got = {(f.group, f.name): f for f in ctx.figures}
    assert got["settings", "LST: Adam steps per frame"].median == 2
    quality = "quality at 768x576, frames 0-2"
    for name in ("instyle", "CBS", "IST"):
        assert got[quality, f"{name}: seam excess"].repeats == 3 and (quality, f"{name}: warping error") in got
        assert got[quality, f"{name}: background pixels changed"].median == 0  # the shared composite
    assert got["quality at 768x576, frames 0-1", "LST: background pixels changed"].median == 0
    assert not any("PSNR" in name for _, name in got)
    # the 1080p row reads a 1080p file, as a render does (not pixels, which have no key frames)
    assert got["ms per 1920x1080 frame, engine", "instyle: total"].note == "vtest-1920x1080.avi frames 0-1"
