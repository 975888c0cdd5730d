"""Moving a 1920x1080 RGBA float32 frame between processes: shared memory against the socket, and both
against the engine's compute for one pipeline frame of the same size (a real engine process)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from multiprocessing import shared_memory
from pathlib import Path

import cv2
import numpy as np

from ..media import FrameSource
from ..wire import connect, read_runtime
from .footage import VTEST

PIPELINE = [{"stage": "instance_mask", "params": {}}, {"stage": "instance_tracker", "params": {}},
            {"stage": "neural_style", "params": {}}, {"stage": "mrf_blend", "params": {}, "return": ["image"]}]


def _start_engine(folder: Path, device: str) -> subprocess.Popen:
    runtime = folder / "engine.json"
    process = subprocess.Popen([sys.executable, "-m", "instyle.cli", "serve", "--runtime-file", str(runtime),
                                "--device", device], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    if "ready on" not in line:
        process.kill()
        raise RuntimeError(f"engine did not start: {line}")
    return process


def run(ctx) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        process = _start_engine(Path(tmp), ctx.device)
        try:
            _measure(ctx, read_runtime(Path(tmp) / "engine.json"))
        finally:
            process.terminate()
            process.wait(30)


def _measure(ctx, info) -> None:
    rgb = cv2.resize(FrameSource().frame(str(VTEST), 10), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    frame = np.concatenate([rgb.astype(np.float32) / 255, np.ones((1080, 1920, 1), np.float32)], axis=2)
    spec = {"dtype": "float32", "shape": list(frame.shape)}
    repeats = 3 if ctx.quick else 10
    segment = shared_memory.SharedMemory(create=True, size=2 * frame.nbytes + 4096)
    try:
        with connect(info, "bench transport") as client:
            def via_socket():
                _, payloads = client.request({"type": "echo", "source": {"kind": "pixels",
                                                                         "array": {**spec, "payload": 0}}},
                                             [memoryview(frame).cast("B")], timeout=120)
                np.frombuffer(payloads[0], np.float32).reshape(frame.shape).copy()

            def via_shm():
                np.ndarray(frame.shape, np.float32, segment.buf)[:] = frame
                reply, _ = client.request({"type": "echo", "shm": {"name": segment.name},
                                           "source": {"kind": "pixels", "array": {**spec, "shm_offset": 0}}},
                                          timeout=120)
                out = reply["arrays"]["echo.image"]
                np.ndarray(frame.shape, np.float32, segment.buf, offset=out["shm_offset"]).copy()

            group = "1920x1080 RGBA float32 (33 MB), there and back, copies on both sides included"
            sock = ctx.time("socket round trip", via_socket, repeats=repeats, group=group)
            shm = ctx.time("shared memory round trip", via_shm, repeats=repeats, group=group)
            ctx.value("shared memory speed-up", sock.median / shm.median, "x", group=group)

            def compute():
                np.ndarray(frame.shape, np.float32, segment.buf)[:] = frame
                client.request({"type": "run", "shot": f"bench-{time.monotonic()}", "shm": {"name": segment.name},
                                "source": {"kind": "pixels", "array": {**spec, "shm_offset": 0}},
                                "pipeline": PIPELINE}, timeout=600)

            group = "against compute"
            work = ctx.time("one 1080p pipeline frame (4 stages, via shared memory)", compute,
                            repeats=2 if ctx.quick else 5, group=group)
            ctx.value("shared memory transfer / compute", 100 * shm.median / work.median, "%", group=group,
                      note="issue target: under 5%")
            ctx.value("socket transfer / compute", 100 * sock.median / work.median, "%", group=group)
    finally:
        segment.close()
        segment.unlink()
