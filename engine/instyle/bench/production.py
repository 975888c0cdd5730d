"""Production resolution: instyle end to end in Blender against Blender alone, from the renders that
build/benchmarks.sh makes of the same footage at each size (`e2e/WxH/blender_alone/timings.json` and
`e2e/WxH/instyle/timings.json`, written by build/demo_render.py).

Every figure leaves out each render's first frame (it loads the clip, and for instyle starts the engine and its
models). The targets are issue #19's: a mean end to end at most `MAX_MEAN_RATIO` times Blender alone's at the
`TARGET_SIZES`, and no frame above `MAX_FRAME_OVER_MEDIAN` times the median.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

GRAPHS = ("blender_alone", "instyle")
MAX_MEAN_RATIO = 2.5
MAX_FRAME_OVER_MEDIAN = 2.0
TARGET_SIZES = ("768x576", "1920x1080")


@dataclass(frozen=True)
class Render:
    """One render's figures over its frames but the first: milliseconds per frame (`mean`, `median`, `max`),
    bytes written to the cache per frame, peak resident memory in MiB of Blender and of the engine (None where
    not measured or no engine ran), and how many frames the figures cover."""

    frames: int
    mean: float
    median: float
    max: float
    cache_bytes_per_frame: float
    blender_mb: float | None
    engine_mb: float | None


@dataclass(frozen=True)
class Comparison:
    """instyle against Blender alone at one size (e.g. "1920x1080"): both renders and instyle's timings.json
    (for its per-stage medians)."""

    size: str
    alone: Render
    ours: Render
    timings: dict

    @property
    def mean_ratio(self) -> float:
        """instyle's mean milliseconds per frame over Blender alone's."""
        return self.ours.mean / self.alone.mean

    @property
    def median_ratio(self) -> float:
        """instyle's median milliseconds per frame over Blender alone's."""
        return self.ours.median / self.alone.median

    @property
    def max_over_median(self) -> float:
        """instyle's slowest frame over its median frame (both in milliseconds)."""
        return self.ours.max / self.ours.median


def render(timings: dict) -> Render:
    """A render's figures from its timings.json (build/demo_render.py's), the first frame left out (where there
    is only one, it is kept)."""
    per_frame = {int(f): ms for f, ms in timings["per_frame_total_ms"].items()}
    first = min(per_frame)
    steady = [ms for f, ms in per_frame.items() if f != first] or list(per_frame.values())
    memory = timings.get("peak_resident_mb") or {}
    return Render(len(steady), statistics.fmean(steady), statistics.median(steady), max(steady),
                  float(timings.get("cache_bytes_per_frame", 0)), memory.get("blender"), memory.get("engine"))


def load(results: Path) -> list[Comparison]:
    """Every size under `results`/e2e/ with both renders, smallest frame first."""
    comparisons = []
    for folder in (results / "e2e").glob("*x*"):
        files = [folder / graph / "timings.json" for graph in GRAPHS]
        if all(f.is_file() for f in files):
            alone, ours = (json.loads(f.read_text()) for f in files)
            comparisons.append(Comparison(folder.name, render(alone), render(ours), ours))
    return sorted(comparisons, key=lambda c: _pixels(c.size))


def _pixels(size: str) -> int:
    """'1920x1080' -> 2073600, the frame's pixel count."""
    width, height = size.split("x")
    return int(width) * int(height)


def targets_met(comparisons: list[Comparison]) -> bool | None:
    """Whether every `TARGET_SIZES` comparison has a mean ratio within `MAX_MEAN_RATIO` and no instyle frame above
    `MAX_FRAME_OVER_MEDIAN` times its median; None when a target size was not rendered."""
    at = {c.size: c for c in comparisons}
    if not all(size in at for size in TARGET_SIZES):
        return None
    return all(at[s].mean_ratio <= MAX_MEAN_RATIO and at[s].max_over_median <= MAX_FRAME_OVER_MEDIAN
               for s in TARGET_SIZES)
