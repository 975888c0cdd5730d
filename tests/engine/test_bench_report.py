"""docs/benchmarks.md from a small, hand-made run: `instyle-engine bench-report` on JSON fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from instyle.cli import main

MACHINE = {"platform": "Linux-test", "processor": "x86_64", "cpu_count": 2, "torch_threads": 2, "python": "3.11.2",
           "torch": "2.15.0", "opencv": "4.13.0", "numpy": "2.4.6"}


def figure(name, median, unit="ms", group="", spread=0.0, repeats=1, note=""):
    return {"name": name, "unit": unit, "median": median, "spread": spread, "repeats": repeats, "group": group,
            "note": note}


def pipeline_result(sheet: Path) -> dict:
    ms, quality = "ms per 768x576 frame, engine", "quality at 768x576, frames 0-5"
    stages = {"instyle": (1.0, 60.0, 3.0, 80.0, 17.0), "CBS": (1.0, 60.0, None, 150.0, 8.0),
              "IST": (1.0, 60.0, 2.0, 70.0, 8.0), "LST": (1.0, 60.0, None, 30000.0, 17.0)}
    figures = []
    for name, times in stages.items():
        for stage, value in zip(("decode", "instance_mask", "instance_tracker", "neural_style", "mrf_blend"), times):
            if value is not None:
                figures.append(figure(f"{name}: {stage}", value, group=ms, spread=2.0, repeats=47))
        total = sum(v for v in times if v is not None) + 4.0
        figures.append(figure(f"{name}: total", total, group=ms, repeats=47, note="vtest.avi frames 0-47"))
        figures.append(figure(f"{name}: total, frames with <= 4 people", total - 10, group=ms, repeats=20))
    for name, warping, seams in (("instyle", 2.0, 0.5), ("CBS", 8.0, 60.0), ("IST", 9.0, 55.0), ("LST", 5.0, 1.0)):
        figures += [figure(f"{name}: warping error", warping, "1e-3", quality, repeats=5),
                    figure(f"{name}: seam excess", seams, "1e-4", quality, repeats=6),
                    figure(f"{name}: background pixels changed", 0, "px", quality)]
    figures.append(figure("LST: Adam steps per frame", 20, "steps", "settings"))
    return {"suite": "pipeline", "device": "cpu", "quick": False, "machine": MACHINE, "seconds": 321.0,
            "figures": figures, "artifacts": {"contact_sheet": str(sheet)}}


def demo_timings(per_frame: list[float], people: list[int]) -> dict:
    return {"input": "/data/vtest.avi", "frames": len(per_frame), "size": [768, 576], "engine_device": "cpu",
            "wall_s": 20.0,
            "ms_per_frame": {"total_median": float(np.median(per_frame)), "total_mean": float(np.mean(per_frame)),
                             "engine_stages_median": {"decode": 1.0, "instance_mask": 70.0,
                                                      "instance_mask.output": 5.0, "instance_tracker": 3.0,
                                                      "instance_tracker.output": 7.0, "neural_style": 90.0,
                                                      "neural_style.output": 12.0, "mrf_blend": 18.0,
                                                      "mrf_blend.output": 12.0, "writes": 5.0},
                             "addon_overhead_median": 4.0, "blender_composite_and_write_median": 90.0},
            "per_frame_total_ms": {str(f + 1): v for f, v in enumerate(per_frame)},
            "instances_per_frame": {str(f + 1): n for f, n in enumerate(people)}}


@pytest.fixture
def results(tmp_path) -> Path:
    folder = tmp_path / "results"
    (folder / "demo").mkdir(parents=True)
    sheet = tmp_path / "sheet.jpg"
    cv2.imwrite(str(sheet), np.full((40, 60, 3), 128, np.uint8))
    (folder / "pipeline.json").write_text(json.dumps(pipeline_result(sheet)))
    (folder / "blend.json").write_text(json.dumps(
        {"suite": "blend", "device": "cpu", "quick": True, "machine": MACHINE, "seconds": 9.5, "artifacts": {},
         "figures": [figure("mrf", 17.5, group="ms per 768x576 frame (whole stage)", spread=1.0, repeats=5)]}))
    # the first frame starts the engine (left out); frames 2..7 have 3, 3, 5, 6, 4, 2 people
    timings = demo_timings([4000.0, 300.0, 320.0, 500.0, 520.0, 340.0, 310.0], [3, 3, 3, 5, 6, 4, 2])
    (folder / "demo" / "timings.json").write_text(json.dumps(timings))
    cv2.imwrite(str(folder / "demo" / "preview.png"), np.zeros((20, 50, 3), np.uint8))
    (folder / "run.json").write_text(json.dumps({"commit": "abc1234", "date": "2026-11-21T05:00Z",
                                                 "loadavg_before": [0.3, 0.4, 0.5], "loadavg_after": [1.9, 1.2, 0.8]}))
    return folder


def test_report_states_end_to_end_figures_ratios_and_the_target(results, tmp_path):
    docs = tmp_path / "docs"
    assert main(["bench-report", str(results), "--docs", str(docs)]) == 0
    page = (docs / "benchmarks.md").read_text()
    # end to end: median of frames 2..7 = median(300, 320, 500, 520, 340, 310) = 330; <= 4 people: 300, 320, 340, 310
    assert "**330 ms per frame**" in page and "**315 ms**" in page and "over the 4 frames with at most 4 people" in page
    assert "**met**" in page
    rows = {line.split(" | ")[0].strip("| "): line for line in page.splitlines()
            if line.startswith("| ") and "| engine |" in line}
    instyle_engine = 1 + 60 + 3 + 80 + 17 + 4
    assert f"| {instyle_engine} |" in rows["instyle"]
    cbs = 1 + 60 + 150 + 8 + 4
    assert f"{cbs / 330:.3g} (vs engine: {cbs / instyle_engine:.3g})" in rows["CBS"]
    lst = 1 + 60 + 30000 + 17 + 4
    assert f"| {lst} |" in rows["LST, 20 Adam steps per frame"]
    assert "every person in starry_night.jpg" in page  # the style all pipelines share
    # quality: ratios against instyle, and the background check (no column equal by construction, as PSNR was)
    assert "| CBS | 8 (4x) | 60 (120x) | 0 |" in page and "| LST, 20 Adam steps per frame | 5 (2.5x) |" in page
    assert "| IST | 9 (4.5x) | 55 (110x) |" in page and "PSNR" not in page
    # the Blender breakdown and the machine
    assert "| add-on overhead | 4 |" in page and "| cache writes, not overlapped | 41 |" in page
    assert "| loadavg before | 0.3 0.4 0.5 |" in page and "| cpu count | 2 |" in page
    # other suites get their own tables
    assert "## bench blend (quick)" in page and "| mrf | 17.5 ± 0.5 | ms | 5 |" in page


def test_report_writes_the_plots_and_copies_the_frames(results, tmp_path):
    docs = tmp_path / "docs"
    main(["bench-report", str(results), "--docs", str(docs)])
    page = (docs / "benchmarks.md").read_text()
    linked = [line.split("](")[1].rstrip(")") for line in page.splitlines() if line.startswith("![")]
    assert sorted(linked) == ["bench/demo-preview.jpg", "bench/pipeline-contact_sheet.jpg", "bench/quality.png",
                              "bench/stages-768x576.png"]
    for link in linked:
        image = cv2.imread(str(docs / link))
        assert image is not None and image.shape[0] >= 20
    plot = cv2.imread(str(docs / "bench" / "stages-768x576.png"))
    assert plot.shape[1] > 500 and plot.std() > 10  # a drawn chart, not a blank canvas
    assert cv2.imread(str(docs / "bench" / "pipeline-contact_sheet.jpg")).shape == (40, 60, 3)


def test_report_misses_the_target_when_frames_take_longer(results, tmp_path):
    slow = demo_timings([4000.0, 450.0, 460.0, 470.0], [2, 2, 3, 3])
    (results / "demo" / "timings.json").write_text(json.dumps(slow))
    main(["bench-report", str(results), "--docs", str(tmp_path / "docs")])
    assert "**NOT met**" in (tmp_path / "docs" / "benchmarks.md").read_text()


def test_report_without_a_blender_render_compares_engine_with_engine(results, tmp_path):
    (results / "demo" / "timings.json").unlink()
    main(["bench-report", str(results), "--docs", str(tmp_path / "docs")])
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "No Blender render in this run" in page
    cbs_row = next(line for line in page.splitlines() if line.startswith("| CBS | engine |"))
    assert cbs_row.endswith(f"| {223 / 165:.3g} |")


def test_report_names_a_folder_without_results(tmp_path):
    with pytest.raises(SystemExit, match="no bench results"):
        main(["bench-report", str(tmp_path), "--docs", str(tmp_path / "docs")])


def e2e_timings(graph: str, size: str, per_frame: list[float], cache_bytes: int, memory: dict) -> dict:
    """build/demo_render.py's timings.json for one render of the production-resolution comparison."""
    timings = demo_timings(per_frame, [3] * len(per_frame))
    width, height = map(int, size.split("x"))
    return {**timings, "size": [width, height], "graph": graph, "cache_bytes_per_frame": cache_bytes,
            "peak_resident_mb": memory}


def write_e2e(results: Path, size: str, alone: list[float], ours: list[float]) -> None:
    for graph, per_frame, cache, memory in (
            ("blender_alone", alone, 0, {"blender": 400.0, "engine": None}),
            ("instyle", ours, 2_000_000, {"blender": 750.0, "engine": 3100.0})):
        folder = results / "e2e" / size / graph
        folder.mkdir(parents=True)
        (folder / "timings.json").write_text(json.dumps(e2e_timings(graph, size, per_frame, cache, memory)))


def e2e_row(page: str, size: str) -> list[str]:
    return next(line for line in page.splitlines() if line.startswith(f"| {size} |")).strip("| ").split(" | ")


def test_report_compares_instyle_with_blender_alone_per_size(results, tmp_path):
    # first frames (loading) left out: alone 1080p 300, 320, 340 (mean 320); instyle 600, 700, 1100 (mean 800)
    write_e2e(results, "1920x1080", [2000.0, 300.0, 320.0, 340.0], [9000.0, 600.0, 700.0, 1100.0])
    write_e2e(results, "768x576", [900.0, 80.0, 80.0, 80.0], [5000.0, 150.0, 160.0, 170.0])
    (results / "e2e" / "3840x2160" / "blender_alone").mkdir(parents=True)  # instyle's render missing: no row
    docs = tmp_path / "docs"
    main(["bench-report", str(results), "--docs", str(docs)])
    page = (docs / "benchmarks.md").read_text()
    assert "## Production resolution: instyle against Blender alone" in page and "x86_64, 2 cores" in page
    rows = [line.split(" | ")[0].strip("| ") for line in page.splitlines() if line.startswith("| ") and "x" in line]
    assert rows.index("768x576") < rows.index("1920x1080") and "3840x2160" not in rows
    assert e2e_row(page, "1920x1080") == ["1920x1080", "3", "320", "320", "800", "700", "2.5x", "2.19x", "1.57x",
                                          "2", "400", "750", "3100"]
    assert e2e_row(page, "768x576")[6:9] == ["2x", "2x", "1.06x"]
    assert "no frame above 2x the median: **met**" in page
    assert "| Instance Mask | 70 | 70 |" in page  # per-part medians, a column per size


def test_report_misses_the_production_target_on_a_slow_frame(results, tmp_path):
    write_e2e(results, "1920x1080", [2000.0, 300.0, 300.0, 300.0], [9000.0, 500.0, 500.0, 1100.0])
    write_e2e(results, "768x576", [900.0, 80.0, 80.0, 80.0], [5000.0, 150.0, 160.0, 170.0])
    main(["bench-report", str(results), "--docs", str(tmp_path / "docs")])
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "| 2.2x |" in page and "no frame above 2x the median: **NOT met**" in page  # 1100 / 500


def test_report_does_not_judge_the_production_target_without_every_size(results, tmp_path):
    write_e2e(results, "768x576", [900.0, 80.0, 80.0, 80.0], [5000.0, 150.0, 160.0, 170.0])
    main(["bench-report", str(results), "--docs", str(tmp_path / "docs")])
    assert "not judged (a target size was not rendered)" in (tmp_path / "docs" / "benchmarks.md").read_text()
