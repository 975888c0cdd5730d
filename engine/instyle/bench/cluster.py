"""`bench cluster`: bake throughput on a Ray cluster of 1 and 2 engine workers against the local engine, in one
run (needs `pip install instyle[cluster]`).

The clip is vtest.avi's first frames at 384x288 (FRAMES; QUICK_FRAMES for the smoke run), written as MJPG. The
bake is the add-on's default chain with the shot tracked from frame 0 (so the cluster runs Analyze first), MRF
Blend's image written to a temporary cache. The local engine bakes it as its scheduler does: one `Service`,
frames in order, with torch's default threads (as the engine runs) and then on one thread (as a worker of 1 CPU
runs: on a loaded 2-core machine the difference is large). The cluster is started here (`auto`: this machine,
loopback only, CPUS CPUs) and holds a pool of 1, then 2, workers of 1 CPU each (`cluster.pool`), each bake a
`cluster.bakes.ClusterBake`. Every engine bakes a WARMUP-frame shot first, so that models are loaded, as in a
running engine, and the figures are of bakes alone.

Figures: frames per second of each bake and its wall time; for the cluster, the Analyze pass's seconds (it runs on
one worker, in order), the fan-out's, what a chunk's first frame spends making its masks those of a bake in order
(`instance_tracker.prepare`: near nothing when it goes on from Analyze's checkpoint, a replay of the Instance Mask
stage on the shot's frames before it otherwise), and the round trip of a call to a worker (Ray's overhead per
frame).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import cv2
import torch

from ..cluster import plan
from ..cluster.bakes import ClusterBake
from ..cluster.connect import join
from ..cluster.pool import WorkerPool
from ..scheduler import Job
from ..service import Service
from ..wire.requests import parse_job
from .footage import VTEST

SIZE = (384, 288)
FRAMES, QUICK_FRAMES = 48, 8
WARMUP = 2  # frames of the warm-up bake: one for each worker of the largest pool
CPUS = 2
WORKERS = (1, 2)  # pools measured, of 1-CPU workers
GROUP = "bake throughput, 384x288 (vtest.avi), default chain, shot analysed"
ROUND_TRIPS = 50


def write_clip(path: Path, frames: int) -> None:
    """vtest.avi's first `frames` frames at SIZE, as an MJPG clip at `path`."""
    capture = cv2.VideoCapture(str(VTEST))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    for _ in range(frames):
        writer.write(cv2.resize(capture.read()[1], SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    capture.release()


def bake_job(clip: Path, frames: range, out: Path, shot: str) -> Job:
    """A bake of `frames` of `clip` through the default chain, the shot tracked from frame 0, into `out`."""
    pipeline = [{"stage": "instance_mask", "params": {}},
                {"stage": "instance_tracker", "params": {"shot_start": 0}, "write": str(out / "tracker"),
                 "write_outputs": []},
                {"stage": "neural_style", "params": {}},
                {"stage": "mrf_blend", "params": {}, "write": str(out / "blend"), "write_outputs": ["image"]}]
    items = [{"source": {"kind": "file", "path": str(clip), "frame": f}, "frame_number": f + 1} for f in frames]
    return Job(None, parse_job({"id": 1, "type": "job", "pipeline": pipeline, "items": items, "shot": shot}))


def bake_locally(service: Service, job: Job) -> None:
    """The job's frames in order through `service`, as the scheduler's worker runs them."""
    for item in job.request.items:
        service.run(job.request.run(item), [])


def bake_on(pool: WorkerPool, job: Job) -> list[tuple[float, dict]]:
    """The job on `pool`; its events with the time each came (time.perf_counter()). Raises if it did not finish."""
    events = []
    ClusterBake(pool, job, lambda header: events.append((time.perf_counter(), header))).run()
    if events[-1][1]["type"] != "result":
        raise RuntimeError(f"the cluster bake failed: {events[-1][1]}")
    return events


def run(ctx) -> None:
    frames = QUICK_FRAMES if ctx.quick else FRAMES
    with tempfile.TemporaryDirectory(prefix="instyle-bench-cluster-") as tmp:
        clip = Path(tmp) / "clip.avi"
        write_clip(clip, frames)
        service = Service(torch.device(ctx.device))
        bake_locally(service, bake_job(clip, range(WARMUP), Path(tmp) / "warm-local", "warm"))
        threads = torch.get_num_threads()
        local_s = {}
        for count in sorted({threads, 1}, reverse=True):  # as the engine runs, then on one thread as a worker does
            torch.set_num_threads(count)
            t0 = time.perf_counter()
            bake_locally(service, bake_job(clip, range(frames), Path(tmp) / f"local-{count}", f"local-{count}"))
            local_s[count] = time.perf_counter() - t0
            ctx.value(f"local engine, torch on {count} thread(s): frames per second", frames / local_s[count],
                      "frames/s", GROUP, f"{frames} frames in {local_s[count]:.1f} s")
        torch.set_num_threads(threads)
        ray = join("auto", "instyle-bench", cpus=CPUS)
        try:
            for workers in WORKERS:
                started = time.perf_counter()
                pool = WorkerPool(ray, workers)
                try:
                    ctx.value(f"{workers} worker(s): start", time.perf_counter() - started, "s", GROUP,
                              "workers started and the engine loaded in each (once per engine, not per bake)")
                    _bake_figures(ctx, pool, clip, frames, Path(tmp) / f"w{workers}", local_s)
                finally:
                    pool.close()
        finally:
            ray.shutdown()


def _bake_figures(ctx, pool: WorkerPool, clip: Path, frames: int, out: Path, local_s: dict[int, float]) -> None:
    """Bake `frames` of `clip` on `pool` into `out` and record its figures; `local_s`: seconds the local engine took,
    by torch threads."""
    workers = len(pool.actors)
    bake_on(pool, bake_job(clip, range(WARMUP), out / "warm", "warm"))  # a frame for each worker
    job = bake_job(clip, range(frames), out / "bake", "bake")
    started = time.perf_counter()
    events = bake_on(pool, job)
    wall = events[-1][0] - started
    analyze_end = max((t for t, e in events if e["type"] == "progress" and "stage" in e), default=started)
    name = f"{workers} worker(s)"
    ctx.value(f"{name}: frames per second", frames / wall, "frames/s", GROUP,
              f"{frames} frames in {wall:.1f} s; the local engine's time / this: "
              + ", ".join(f"{s / wall:.2f} on {n} thread(s)" for n, s in sorted(local_s.items())))
    ctx.value(f"{name}: Analyze pass", analyze_end - started, "s", GROUP, "on one worker, in order")
    ctx.value(f"{name}: frames after Analyze", events[-1][0] - analyze_end, "s", GROUP,
              f"chunks of {-(-frames // workers)} frames")
    starts = {chunk[0].frame_number for chunk in plan.chunks(job.request.items, workers)[1:]}
    for _, event in events:  # a chunk after the first goes on from Analyze's checkpoint (`plan.handovers`)
        if event["type"] == "progress" and "stage" not in event and event["frame"] in starts:
            ctx.value(f"{name}: Instance Tracker prepare, first frame of the chunk from frame {event['frame']}",
                      event["timings_ms"]["instance_tracker.prepare"], "ms", GROUP,
                      f"without the checkpoint it replays the Instance Mask stage on the {event['frame'] - 1} "
                      "frames before it")
    trips = []
    for _ in range(ROUND_TRIPS):
        t0 = time.perf_counter()
        pool.ray.get(pool.actors[0].ready.remote())
        trips.append((time.perf_counter() - t0) * 1000)
    ctx.value(f"{name}: call round trip", statistics.median(trips), "ms", GROUP,
              f"median of {ROUND_TRIPS} calls to a worker: Ray's overhead per frame")
