"""`instyle-engine bench SUITE`: side-by-side measurements, printed as a table and saved as JSON.

A suite is a module here with `run(ctx: BenchContext) -> None` that records figures with `ctx.time(...)`
(repeated timings, reported as median and spread) and `ctx.value(...)` (one measured quantity).
Suites are registered in `SUITES` by name.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

SUITES = ("transport", "cache", "mask", "style", "blend", "track", "pipeline", "cluster")


@dataclass
class Figure:
    name: str
    unit: str
    median: float
    spread: float = 0.0
    repeats: int = 1
    group: str = ""
    note: str = ""

    def to_json(self) -> dict:
        return self.__dict__.copy()


@dataclass
class BenchContext:
    """What a suite gets: the device, whether to run the quick (CI smoke) variant, and the recorders."""

    device: str
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)

    def time(self, name: str, fn: Callable[[], object], repeats: int = 5, warmup: int = 1, group: str = "",
             note: str = "", per: int = 1) -> Figure:
        """Milliseconds per call of `fn` (per one of the `per` things a call does): median and interquartile range
        over `repeats` calls."""
        import torch

        for _ in range(warmup):
            fn()
        samples = []
        for _ in range(max(1, repeats if not self.quick else min(repeats, 2))):
            if self.device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if self.device == "cuda":
                torch.cuda.synchronize()
            samples.append((time.perf_counter() - t0) * 1000 / per)
        q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
        figure = Figure(name, "ms", statistics.median(samples), q[2] - q[0], len(samples), group, note)
        self.figures.append(figure)
        return figure

    def value(self, name: str, value: float, unit: str, group: str = "", note: str = "") -> Figure:
        figure = Figure(name, unit, float(value), 0.0, 1, group, note)
        self.figures.append(figure)
        return figure


def machine() -> dict:
    import cv2
    import numpy
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "opencv": cv2.__version__, "numpy": numpy.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_suite(name: str, device: str, quick: bool, json_path: Path | None = None) -> dict:
    """Run one suite, print its table, and write its JSON results when asked."""
    if name not in SUITES:
        raise SystemExit(f"unknown suite {name!r}; suites: {', '.join(SUITES)}")
    try:
        module = importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise SystemExit(f"bench suite {name!r} is not written yet") from None
        raise
    ctx = BenchContext(device, quick)
    started = time.perf_counter()
    module.run(ctx)
    result = {"suite": name, "device": device, "quick": quick, "machine": machine(),
              "seconds": round(time.perf_counter() - started, 2), "figures": [f.to_json() for f in ctx.figures],
              "artifacts": ctx.artifacts}
    print_table(result)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))
    return result


def print_table(result: dict) -> None:
    print(f"bench {result['suite']} on {result['device']} ({result['machine']['processor']}, "
          f"{result['machine']['cpu_count']} cores){' [quick]' if result['quick'] else ''}")
    width = max((len(f["name"]) for f in result["figures"]), default=10)
    group = None
    for f in result["figures"]:
        if f["group"] != group:
            group = f["group"]
            if group:
                print(f"  [{group}]")
        spread = f" ± {f['spread'] / 2:.3g}" if f["spread"] else ""
        note = f"  ({f['note']})" if f["note"] else ""
        print(f"    {f['name']:<{width}}  {f['median']:>10.4g}{spread} {f['unit']}{note}")
