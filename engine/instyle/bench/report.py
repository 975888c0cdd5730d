"""`instyle-engine bench-report RESULTS`: docs/benchmarks.md from one benchmark run's JSON files.

RESULTS holds what build/benchmarks.sh writes: `<suite>.json` per suite (`instyle-engine bench SUITE --json`),
`demo/timings.json` (the Blender render of build/demo.sh), `e2e/WxH/{blender_alone,instyle}/timings.json` (the
same footage at production sizes through Blender alone and through instyle: `production`) and `run.json`
(commit, date, load average before and after). The page gets the machine, the headline (instyle end to end in
Blender against each baseline, with ratios), instyle against Blender alone per size, the pipeline suite's tables,
every other suite's figures, matplotlib plots and the contact sheets the suites wrote; images go to
`<docs>/bench/`. Nothing on the page is typed in by hand.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import production  # noqa: E402
from .pipeline import MAX_PEOPLE, STAGE_NAMES, STYLE_IMAGE  # noqa: E402

TARGET_MS = 400.0
BASELINES = ("CBS", "IST", "LST")
PIPELINES = ("instyle", *BASELINES)
HEADLINE_SIZE = "768x576"
DEMO_PARTS = (("decode", "decode"), ("instance_mask", "Instance Mask"), ("instance_tracker", "Instance Tracker"),
              ("neural_style", "Neural Style"), ("mrf_blend", "MRF Blend"), ("output", "cache writes, not overlapped"),
              ("addon", "add-on overhead"), ("blender", "Blender composite + PNG"))
COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


@dataclass
class Run:
    """One benchmark run: its folder, suite results by name, the Blender demo's timings (or None), instyle against
    Blender alone per production size and the run's notes."""

    results: Path
    suites: dict
    demo: dict | None
    comparisons: list[production.Comparison]
    info: dict


def load(results: Path) -> Run:
    suites = {}
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        if "suite" in data and "figures" in data:
            suites[data["suite"]] = data
    if not suites:
        raise SystemExit(f"no bench results (*.json from `instyle-engine bench SUITE --json`) in {results}")
    demo_file, info_file = results / "demo" / "timings.json", results / "run.json"
    demo = json.loads(demo_file.read_text()) if demo_file.is_file() else None
    info = json.loads(info_file.read_text()) if info_file.is_file() else {}
    return Run(results, suites, demo, production.load(results), info)


def figures(result: dict, group_start: str) -> dict[str, dict]:
    """The suite's figures whose group starts with `group_start`, by name (the first of a name wins)."""
    out = {}
    for f in result["figures"]:
        if f["group"].startswith(group_start):
            out.setdefault(f["name"], f)
    return out


def label(pipeline: dict, name: str) -> str:
    """A pipeline's name in the tables: LST's with the Adam steps it ran per frame, which its results depend on."""
    steps = figures(pipeline, "settings").get("LST: Adam steps per frame")
    return f"LST, {steps['median']:.0f} Adam steps per frame" if name == "LST" and steps else name


def number(value: float, digits: int = 3) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "∞ (identical)" if value > 0 else "-∞"
    if value == 0 or abs(value) >= 10 ** digits:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|",
            *("| " + " | ".join(row) + " |" for row in rows), ""]


def with_spread(f: dict) -> str:
    spread = f" ± {number(f['spread'] / 2)}" if f.get("spread") else ""
    return f"{number(f['median'])}{spread}"


# ------------------------------------------------------------------ Blender demo


def demo_parts(demo: dict) -> dict[str, float]:
    """The Blender render's median milliseconds per frame split into `DEMO_PARTS` (their sum is close to, not
    equal to, the median total: medians of parts do not add up exactly)."""
    ms = demo["ms_per_frame"]
    stages = ms["engine_stages_median"]
    parts = {key: stages.get(key, 0.0) for key, _ in DEMO_PARTS[:5]}
    parts["output"] = sum(v for k, v in stages.items() if k.endswith(".output")) + stages.get("writes", 0.0)
    parts["addon"] = ms.get("addon_overhead_median") or 0.0
    parts["blender"] = ms["blender_composite_and_write_median"]
    return parts


def demo_total(demo: dict, max_people: int | None = None) -> tuple[float, int]:
    """Median milliseconds per frame from render start to the written PNG, over all frames but the first
    (which loads the engine and its models), or over those of them with at most `max_people` instances; and
    how many frames that is."""
    per_frame = {int(k): v for k, v in demo["per_frame_total_ms"].items()}
    people = {int(k): v for k, v in demo["instances_per_frame"].items()}
    first = min(per_frame)
    picked = [v for f, v in per_frame.items() if f != first and (max_people is None or people.get(f, 0) <= max_people)]
    return (statistics.median(picked) if picked else math.nan), len(picked)


# ------------------------------------------------------------------ plots


def stage_plot(pipeline: dict, demo: dict | None, size: str, path: Path) -> Path:
    """Stacked horizontal bars: each pipeline's engine milliseconds per frame by stage, and at the headline
    size instyle end to end in Blender by part."""
    group = figures(pipeline, f"ms per {size} frame")
    bars = []
    for name in PIPELINES:
        parts = [(stage, group[f"{name}: {stage}"]["median"]) for stage in STAGE_NAMES if f"{name}: {stage}" in group]
        if parts:
            bars.append((f"{name} (engine)", parts))
    if demo is not None and size == HEADLINE_SIZE:
        bars.insert(0, ("instyle in Blender", list(demo_parts(demo).items())))
    colours = {key: COLOURS[k] for k, (key, _) in enumerate(DEMO_PARTS)}
    totals = [sum(ms for _, ms in parts) for _, parts in bars]
    limit = 1.25 * max([TARGET_MS if size == HEADLINE_SIZE else 0.0] + [t for t in totals if t <= 5 * min(totals)])
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(bars) + 1.8))
    for row, ((_, parts), total) in enumerate(zip(reversed(bars), reversed(totals))):
        left = 0.0
        for part, ms in parts:
            ax.barh(row, ms, left=left, color=colours[part])
            left += ms
        ax.text(min(total, limit), row, f" {total:.0f} ms" + (" (off the scale)" if total > limit else ""),
                va="center", ha="left" if total <= 0.8 * limit else "right", fontsize=8,
                bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
    ax.set_xlim(0, limit)
    used = [key for key in colours if any(part == key for _, parts in bars for part, _ in parts)]
    ax.legend([plt.Rectangle((0, 0), 1, 1, color=colours[key]) for key in used],
              [dict(DEMO_PARTS)[key] for key in used], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_yticks(range(len(bars)), [label for label, _ in reversed(bars)])
    ax.set_xlabel(f"milliseconds per {size} frame (medians)")
    if size == HEADLINE_SIZE:
        ax.axvline(TARGET_MS, color="black", linestyle="--", linewidth=1)
        ax.text(TARGET_MS, len(bars) - 0.45, f" target {TARGET_MS:.0f} ms", fontsize=8)
    ax.set_title(f"Where the time goes, {size}")
    fig.tight_layout()
    return _save(fig, path)


def quality_plot(rows: dict[str, dict[str, float]], frames: str, path: Path) -> Path:
    """Bars of warping error and seam excess per pipeline (the same frames for all)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    names = list(rows)
    for ax, (metric, unit) in zip(axes, (("warping error", "1e-3"), ("seam excess", "1e-4"))):
        values = [rows[n].get(metric, math.nan) for n in names]
        ax.bar(names, values, color=[COLOURS[0] if n == "instyle" else COLOURS[7] for n in names])
        ax.set_title(f"{metric} ({unit}, lower is better)", fontsize=10)
    fig.suptitle(f"Flicker and seams, {HEADLINE_SIZE}, {frames}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ the page


def headline(run: Run, images: Path, lines: list[str]) -> None:
    pipeline, demo = run.suites.get("pipeline"), run.demo
    lines += [f"## Headline: end to end per {HEADLINE_SIZE} frame", ""]
    if pipeline is None:
        lines += ["The pipeline suite was not run.", ""]
        return
    engine = figures(pipeline, f"ms per {HEADLINE_SIZE} frame")
    ours_engine = engine["instyle: total"]["median"]
    if demo is not None:
        ours, frames = demo_total(demo)
        few, few_frames = demo_total(demo, MAX_PEOPLE)
        verdict = "met" if few <= TARGET_MS else "NOT met"
        lines += [f"instyle rendered by Blender through the four nodes (build/demo.sh: {demo['input'].split('/')[-1]}, "
                  f"{demo['frames']} frames at {demo['size'][0]}x{demo['size'][1]}, engine on {demo['engine_device']}): "
                  f"**{number(ours)} ms per frame** from the render's start to the written PNG, the add-on's "
                  f"overhead, the engine's cache writes and Blender's composite included (median over "
                  f"{frames} frames, the first, which starts the engine, left out); **{number(few)} ms** over the "
                  f"{few_frames} frames with at most {MAX_PEOPLE} people. Target: at most {TARGET_MS:.0f} ms per "
                  f"frame with up to {MAX_PEOPLE} people: **{verdict}**.", ""]
    else:
        ours = math.nan
        lines += ["No Blender render in this run (results/demo/timings.json is missing): end-to-end figures below "
                  "are the engine's alone.", ""]
    rows = []
    if demo is not None:
        rows.append(["instyle", "Blender, end to end", number(ours), number(few), "1"])
    rows.append(["instyle", "engine", number(ours_engine),
                 number(engine.get(f"instyle: total, frames with <= {MAX_PEOPLE} people", {"median": math.nan})["median"]),
                 "1" if demo is None else number(ours_engine / ours)])
    for name in BASELINES:
        if f"{name}: total" not in engine:
            continue
        ms = engine[f"{name}: total"]["median"]
        few_ms = engine.get(f"{name}: total, frames with <= {MAX_PEOPLE} people", {"median": math.nan})["median"]
        ratio = f"{number(ms / ours)} (vs engine: {number(ms / ours_engine)})" if demo is not None \
            else number(ms / ours_engine)
        rows.append([label(pipeline, name), "engine", number(ms), number(few_ms), ratio])
    lines += table(["pipeline", "measured in", "ms per frame (median)", f"<= {MAX_PEOPLE} people",
                    "time / instyle in Blender" if demo is not None else "time / instyle"], rows)
    lines += ["The baselines run in the engine only (the same `Service` a render calls, no Blender), so against "
              "instyle's Blender figure they are spared the add-on, cache and composite costs"
              + ("; the ratio in brackets compares engine with engine." if demo is not None else "."),
              f"In the engine every pipeline styles every person in {STYLE_IMAGE.name} (instyle, CBS and IST "
              "with the Arbitrary network, LST by optimisation), so that its figures compare like with like"
              + ("; the Blender render is build/demo.sh's, at the nodes' defaults (the fast network's four-style "
                 "palette)." if demo is not None else "."), ""]
    quality = _quality_rows(pipeline, HEADLINE_SIZE)
    if quality:
        group, rows_by_name = quality[0]
        lines += [f"Quality at {HEADLINE_SIZE}, {group.split(', ', 1)[1]} (the same frames for every pipeline; "
                  "lower is better; ratios against instyle):", ""]
        lines += _quality_table(pipeline, rows_by_name)
        plot = quality_plot(rows_by_name, group.split(", ", 1)[1], images / "quality.png")
        lines += [f"![Warping error and seam excess per pipeline]({plot.parent.name}/{plot.name})", ""]
    plot = stage_plot(pipeline, demo, HEADLINE_SIZE, images / f"stages-{HEADLINE_SIZE}.png")
    lines += [f"![Milliseconds per frame by stage]({plot.parent.name}/{plot.name})", "",
              "*Each bar stacks the medians of its parts, so its length is close to, not exactly, the median "
              "total in the table.*", ""]


def _quality_rows(pipeline: dict, size: str) -> list[tuple[str, dict[str, dict[str, float]]]]:
    """Per quality group at `size` (the group holding every pipeline first): {pipeline: {metric: value}}."""
    groups = {}
    for f in pipeline["figures"]:
        if f["group"].startswith(f"quality at {size}"):
            name, metric = f["name"].split(": ", 1)
            groups.setdefault(f["group"], {}).setdefault(name, {}).setdefault(metric, f["median"])
    return sorted(groups.items(), key=lambda g: -len(g[1]))


def _quality_table(pipeline: dict, rows: dict[str, dict[str, float]]) -> list[str]:
    """Warping error and seam excess per pipeline, with ratios against instyle's, and the background check (0 for
    all by construction: every pipeline composites through MRF Blend)."""
    ours = rows.get("instyle", {})
    out = []
    for name in PIPELINES:
        if name not in rows:
            continue
        r = rows[name]
        cells = [label(pipeline, name)]
        for metric in ("warping error", "seam excess"):
            value = r.get(metric, math.nan)
            ratio = value / ours[metric] if ours.get(metric) else math.nan
            cells.append(f"{number(value)} ({number(ratio)}x)" if name != "instyle" else number(value))
        cells.append(number(r["background pixels changed"]) if "background pixels changed" in r else "-")
        out.append(cells)
    return table(["pipeline", "warping error (1e-3)", "seam excess (1e-4)",
                  "background pixels changed (a check: 0 by construction)"], out)


def blender_section(demo: dict, lines: list[str]) -> None:
    parts = demo_parts(demo)
    total, _ = demo_total(demo)
    lines += ["## instyle in Blender: where a frame's time goes", "",
              f"Medians per frame of the Blender render ({demo['frames']} frames, wall time "
              f"{demo['wall_s']} s; the parts are medians, so they need not add up to the median total).", ""]
    rows = [[label, number(parts[key]), f"{100 * parts[key] / total:.0f}%"] for key, label in DEMO_PARTS]
    rows.append(["**total (render start to written PNG)**", f"**{number(total)}**", ""])
    lines += table(["part", "ms per frame", "share of total"], rows)


def machine_name(run: Run) -> str:
    """The machine in words: its CPU (or processor), core count and GPU where the engine saw one."""
    machine = next(iter(run.suites.values()))["machine"]
    gpu = f", {machine['gpu']}" if "gpu" in machine else ""
    return f"{run.info.get('cpu') or machine['processor']}, {machine['cpu_count']} cores{gpu}"


def production_section(run: Run, lines: list[str]) -> None:
    """instyle end to end against Blender alone at each production size: times, ratios, the slowest frame, per-part
    medians, cache bytes and peak memory."""
    comparisons = run.comparisons
    met = production.targets_met(comparisons)
    load = run.info.get("loadavg_before")
    lines += ["## Production resolution: instyle against Blender alone", "",
              "The same footage (vtest.avi, upscaled to each size as an MJPG .avi: `instyle.bench.footage`) rendered "
              "to PNG by Blender through a compositor holding only Movie Clip -> Group Output (Blender alone), then "
              f"through the four instyle nodes (build/demo.sh), on {machine_name(run)}"
              + (f" (load average before the run: {', '.join(map(str, load))})" if load else "")
              + ". Milliseconds per frame from the render's start to the written PNG, each render's first frame "
              f"left out. Target (#19): a mean at most {number(production.MAX_MEAN_RATIO)}x Blender alone's at "
              f"{' and '.join(production.TARGET_SIZES)}, and no frame above "
              f"{number(production.MAX_FRAME_OVER_MEDIAN)}x the median: "
              + {True: "**met**", False: "**NOT met**", None: "not judged (a target size was not rendered)"}[met]
              + ".", ""]
    rows = [[c.size, str(c.ours.frames), number(c.alone.mean), number(c.alone.median), number(c.ours.mean),
             number(c.ours.median), f"{number(c.mean_ratio)}x", f"{number(c.median_ratio)}x",
             f"{number(c.max_over_median)}x", number(c.ours.cache_bytes_per_frame / 1e6),
             _megabytes(c.alone.blender_mb), _megabytes(c.ours.blender_mb), _megabytes(c.ours.engine_mb)]
            for c in comparisons]
    lines += table(["size", "frames", "Blender alone: mean ms", "median ms", "instyle: mean ms", "median ms",
                    "mean / Blender alone", "median / Blender alone", "instyle: slowest frame / median",
                    "cache MB per frame", "peak MiB: Blender alone", "Blender with instyle", "engine"], rows)
    parts = {c.size: demo_parts(c.timings) for c in comparisons}
    lines += ["instyle's medians per frame by part (ms; medians, so they need not add up to the median total):", ""]
    lines += table(["part", *parts],
                   [[label, *(number(p[key]) for p in parts.values())] for key, label in DEMO_PARTS])


def _megabytes(value: float | None) -> str:
    return "-" if value is None else number(value)


def pipeline_section(pipeline: dict, images: Path, lines: list[str]) -> None:
    lines += ["## Pipeline suite: per stage and per size", "",
              "`instyle-engine bench pipeline`: each pipeline is a request to the engine's `Service` per frame, "
              "frames in order as one shot; milliseconds are the reply's `timings_ms` (a stage's compute and "
              "the copying of what it returns) and the whole request, median ± half the interquartile range "
              "over the clip without its first frame. See the suite's docstring for the pipelines' parameters.",
              ""]
    sizes = list(dict.fromkeys(f["group"].split(" ")[2] for f in pipeline["figures"]
                               if f["group"].startswith("ms per ")))
    for size in sizes:
        group = figures(pipeline, f"ms per {size} frame")
        lines += [f"### {size}", ""]
        rows = []
        for name in PIPELINES:
            if f"{name}: total" not in group:
                continue
            cells = [label(pipeline, name)] + [with_spread(group[f"{name}: {s}"]) if f"{name}: {s}" in group else "-"
                              for s in (*STAGE_NAMES, "total")]
            few = group.get(f"{name}: total, frames with <= {MAX_PEOPLE} people")
            cells += [with_spread(few) if few else "-", group[f"{name}: total"]["note"]]
            rows.append(cells)
        lines += table(["pipeline", *STAGE_NAMES, "total", f"total, <= {MAX_PEOPLE} people", "frames"], rows)
        ratios = figures(pipeline, f"{size}: time per frame")
        if ratios:
            lines += ["Time per frame against instyle's (engine): " + ", ".join(
                f"{n.split(' /')[0]} {number(f['median'])}x" for n, f in ratios.items()) + ".", ""]
        for group_name, rows_by_name in _quality_rows(pipeline, size):
            lines += [f"Quality, {group_name.split(', ', 1)[1]}:", ""]
            lines += _quality_table(pipeline, rows_by_name)
        if size != HEADLINE_SIZE:
            plot = stage_plot(pipeline, None, size, images / f"stages-{size}.png")
            lines += [f"![Milliseconds per {size} frame by stage]({plot.parent.name}/{plot.name})", ""]


def suite_section(result: dict, lines: list[str]) -> None:
    lines += [f"## bench {result['suite']}{' (quick)' if result['quick'] else ''}", "",
              f"{result['seconds']} s on {result['device']}.", ""]
    groups: dict[str, list[dict]] = {}
    for f in result["figures"]:
        groups.setdefault(f["group"], []).append(f)
    for group, items in groups.items():
        if group:
            lines += [f"**{group}**", ""]
        lines += table(["figure", "median", "unit", "repeats", "note"],
                       [[f["name"], with_spread(f), f["unit"], str(f["repeats"]), f["note"]] for f in items])


def artifacts(run: Run, images: Path, lines: list[str]) -> None:
    """The suites' images (contact sheets and crops), copied beside the page."""
    shown = []
    for suite, result in run.suites.items():
        for name, source in result.get("artifacts", {}).items():
            source = Path(source)
            if source.suffix.lower() in (".jpg", ".jpeg", ".png") and source.is_file():
                target = images / f"{suite}-{name}{source.suffix.lower()}"
                shutil.copyfile(source, target)
                shown.append((suite, name, target))
    preview = run.results / "demo" / "preview.png"
    if preview.is_file():
        target = images / "demo-preview.jpg"
        cv2.imwrite(str(target), cv2.imread(str(preview)), [cv2.IMWRITE_JPEG_QUALITY, 88])
        shown.insert(0, ("Blender render", "a source frame and its render (build/demo.sh)", target))
    if shown:
        lines += ["## Frames", ""]
        for suite, name, path in shown:
            lines += [f"**{suite}: {name.replace('_', ' ')}**", "", f"![{suite} {name}]({images.name}/{path.name})", ""]


def machine_section(run: Run, lines: list[str]) -> None:
    machine = next(iter(run.suites.values()))["machine"]
    rows = [[k.replace("_", " "), str(v)] for k, v in machine.items()]
    for key in ("cpu", "commit", "date", "loadavg_before", "loadavg_after"):
        if key in run.info:
            value = run.info[key]
            rows.append([key.replace("_", " "), " ".join(map(str, value)) if isinstance(value, list) else str(value)])
    lines += ["## Machine", ""] + table(["", ""], rows)


def write(results: Path, docs: Path) -> Path:
    """Write docs/benchmarks.md and its images from the run in `results`; returns the page's path."""
    run = load(results)
    images = docs / "bench"
    if images.is_dir():
        shutil.rmtree(images)
    images.mkdir(parents=True)
    lines = ["# Benchmarks", "",
             "Generated by `build/benchmarks.sh` (every suite with `--json`, a Blender render of the same clip, "
             "then `instyle-engine bench-report`) from one run; do not edit by hand.", ""]
    headline(run, images, lines)
    if run.demo is not None:
        blender_section(run.demo, lines)
    if run.comparisons:
        production_section(run, lines)
    if "pipeline" in run.suites:
        pipeline_section(run.suites["pipeline"], images, lines)
    artifacts(run, images, lines)
    for name, result in run.suites.items():
        if name != "pipeline":
            suite_section(result, lines)
    machine_section(run, lines)
    page = docs / "benchmarks.md"
    page.write_text("\n".join(lines))
    return page
