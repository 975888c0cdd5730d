"""Bakes on a real Ray cluster on this machine, on loopback only: a head (`ray start --head`, 2 CPUs, its own
temporary folder) whose two worker processes hold the engine's two workers, and an `instyle-engine serve
--cluster HEAD` process that the test bakes through, as the add-on does. Its frames are compared with those of
an engine baking locally (the one whose cluster address is unreachable)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import cv2
import numpy as np
import pytest

from instyle.cluster.connect import AUTH_MODE, AUTH_TOKEN, LOOPBACK_ONLY
from instyle.wire.atomic_files import TEMPORARY

from ..conftest import OPENCV_DATA, VTEST
from .conftest import start_engine, stop_engine
from .test_jobs import finish

pytestmark = pytest.mark.skipif(find_spec("ray") is None, reason="Ray is not installed: pip install instyle[cluster]")

FRAMES = 24
SIZE = (384, 288)  # vtest.avi's 768x576 halved: the same people, a quarter of the work
WORKER = "ray::EngineWorker"  # the process title Ray gives the engine's workers


def write_clip(path: Path) -> None:
    """vtest.avi's first FRAMES frames at SIZE, as an MJPG clip."""
    capture = cv2.VideoCapture(str(VTEST))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, SIZE)
    for _ in range(FRAMES):
        writer.write(cv2.resize(capture.read()[1], SIZE, interpolation=cv2.INTER_AREA))
    writer.release()
    capture.release()


def pipeline(out: Path) -> list[dict]:
    """The add-on's default chain, the shot tracked from frame 0 (so it is analysed first), writing MRF Blend's
    image and the tracker's store into `out`."""
    return [{"stage": "instance_mask", "params": {}},
            {"stage": "instance_tracker", "params": {"shot_start": 0}, "write": str(out / "instance_tracker"),
             "write_outputs": []},
            {"stage": "neural_style", "params": {}},
            {"stage": "mrf_blend", "params": {}, "write": str(out / "mrf_blend"), "write_outputs": ["image"]}]


def items(clip: Path) -> list[dict]:
    return [{"source": {"kind": "file", "path": str(clip), "frame": f}, "frame_number": f + 1} for f in range(FRAMES)]


def frames(out: Path) -> dict[int, np.ndarray]:
    """The baked images (float32 HxWx3) by frame number."""
    folder = out / "mrf_blend" / "image"
    return {int(p.stem): cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.exr"))}


def assert_same_frames(baked: dict[int, np.ndarray], reference: dict[int, np.ndarray]) -> None:
    """Every frame, within the tolerance of the order-independence tests (test_render_order: with temporal
    stabilisation, a frame rendered without its predecessor differs on a few pixels at the crops' edges)."""
    assert sorted(baked) == sorted(reference) == list(range(1, FRAMES + 1))
    for number, image in baked.items():
        assert image is not None and image.shape == reference[number].shape, number
        levels = np.abs(image - reference[number]) * 255
        assert (levels > 1).mean() < 1e-3 and levels.max() < 20, (number, (levels > 1).mean(), levels.max())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """Every descendant of process `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found += [int(entry.name), *children(int(entry.name))]
        except (OSError, IndexError):
            pass
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is no zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Head:
    """A Ray head on loopback with 2 CPUs, in its own temporary folder, with a token of its own (`env`: what a
    process joining it needs); `processes()` are its processes and theirs."""

    def __init__(self):
        self.temp = tempfile.mkdtemp(prefix="instyle-ray-")  # short: Ray's socket paths must fit in 107 bytes
        self.address = f"127.0.0.1:{free_port()}"
        self.env = {LOOPBACK_ONLY: "0", AUTH_MODE: "token", AUTH_TOKEN: secrets.token_hex(32)}
        subprocess.run([str(Path(sys.executable).parent / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
                        f"--port={self.address.split(':')[1]}", "--num-cpus=2", "--include-dashboard=false",
                        f"--temp-dir={self.temp}", "--disable-usage-stats"],
                       check=True, timeout=120, capture_output=True, env=dict(os.environ, **self.env))
        self.own = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if self.temp in command_line(pid)]

    def processes(self) -> list[int]:
        return sorted(p for p in {p for pid in self.own for p in [pid, *children(pid)]} if alive(p))

    def workers(self) -> list[int]:
        return [pid for pid in self.processes() if command_line(pid).startswith(WORKER)]

    def stop(self) -> None:
        """End the head's processes (by pid: SIGTERM, then SIGKILL for those left after 5 s) and its folder."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        subprocess.run(["rm", "-rf", self.temp], check=False)


def drained(engine):
    """`engine`, its output read (and kept in `engine.output`) so that Ray's messages never fill the pipe."""
    engine.output = []
    threading.Thread(target=lambda: engine.output.extend(engine.process.stdout), daemon=True).start()
    return engine


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    write_clip(path)
    return path


@pytest.fixture(scope="module")
def head():
    """The head, its token in this process's environment, which the engines started here inherit."""
    head = Head()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in head.env.items():
            patch.setenv(name, value)
        yield head
    head.stop()
    assert not head.processes(), "processes of the test's cluster are left"


@pytest.fixture(scope="module")
def local(tmp_path_factory, clip, head):
    """An engine told of a cluster where none answers, and the frames it baked (locally): (engine log, ready line,
    the bake's last event, its frames)."""
    tmp = tmp_path_factory.mktemp("local")
    engine = drained(start_engine(tmp, "--cluster", f"127.0.0.1:{free_port()}"))
    try:
        with engine.client() as client:
            last = finish(client.submit_job(pipeline(tmp / "out"), items(clip), shot="local"))[-1]
    finally:
        stop_engine(engine)
    return engine.log, engine.ready_line, last, frames(tmp / "out")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, head):
    """(the head, an engine baking on it with two workers)."""
    engine = drained(start_engine(tmp_path_factory.mktemp("engine"), "--cluster", head.address,
                                  "--cluster-workers", "2"))
    yield head, engine
    stop_engine(engine)


def test_an_unreachable_cluster_is_a_named_error_and_the_engine_bakes_locally(local):
    log, ready, last, baked = local
    assert "cluster_unreachable: no Ray cluster answers at 127.0.0.1:" in log and "ray start --head" in log
    assert ready.endswith("bakes=local")
    assert last["type"] == "result" and last["done"] == FRAMES and len(baked) == FRAMES


def test_a_cluster_bake_gives_the_frames_of_a_local_bake(cluster, local, clip, tmp_path):
    head, engine = cluster
    assert "bakes=cluster of 2 workers (cpu)" in engine.ready_line and len(head.workers()) == 2
    with engine.client() as client:
        events = finish(client.submit_job(pipeline(tmp_path), items(clip), shot="cluster"))
    assert events[-1] == {"type": "result", "id": events[-1]["id"], "done": FRAMES, "total": FRAMES}
    analyze = [e for e in events if e["type"] == "progress" and "stage" in e]
    computed = [e for e in events if e["type"] == "progress" and "stage" not in e]
    assert [(e["stage"], e["step"], e["frame"]) for e in analyze] == [("instance_tracker", k, k)
                                                                       for k in range(1, FRAMES + 1)]
    assert [e["done"] for e in computed] == list(range(1, FRAMES + 1))
    assert sorted(e["frame"] for e in computed) == list(range(1, FRAMES + 1))
    assert len((tmp_path / "instance_tracker" / "tracks.jsonl").read_text().splitlines()) == FRAMES + 1
    second = next(e for e in computed if e["frame"] == FRAMES // 2 + 1)  # the second chunk's first frame
    assert second["timings_ms"]["instance_tracker.prepare"] < 200, "it went on from Analyze's checkpoint, no replay"
    assert_same_frames(frames(tmp_path), local[3])


def test_frames_past_the_footage_are_listed_and_a_frame_that_fails_on_its_data_ends_the_job_once(cluster, clip):
    head, engine = cluster
    mask_only = [{"stage": "instance_mask", "params": {}}]
    with engine.client() as client:
        past_the_end = items(clip)[:3] + [{"source": {"kind": "file", "path": str(clip), "frame": 500},
                                           "frame_number": 501}]
        last = finish(client.submit_job(mask_only, past_the_end, shot="missing"))[-1]
        assert last == {"type": "result", "id": last["id"], "done": 3, "total": 4, "missing": [501]}
        unreadable = [{"source": {"kind": "file", "path": "/missing.avi", "frame": 0}, "frame_number": 7}]
        events = finish(client.submit_job(mask_only, items(clip)[:3] + unreadable, shot="unreadable"))
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1 and events[-1] is errors[0], "one error, the job's last event"
    assert errors[0]["code"] == "source_missing" and errors[0]["frame"] == 7 and errors[0]["hint"]


def test_a_worker_killed_mid_bake_is_restarted_and_every_frame_is_whole(cluster, local, clip, tmp_path):
    head, engine = cluster
    before = head.workers()
    with engine.client() as client:
        job = client.submit_job(pipeline(tmp_path), items(clip), shot="killed")
        events = []
        while not [e for e in events if e["type"] == "progress" and "stage" not in e and e["done"] >= 2]:
            events.append(job.wait_event(120))  # past Analyze: both workers are baking frames
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        events += finish(job)
    assert events[-1]["type"] == "result" and events[-1]["done"] == FRAMES, events[-1]
    after = head.workers()
    assert victim not in after and len(after) == 2, "Ray restarted the killed worker"
    left = [p.name for p in (tmp_path / "mrf_blend" / "image").iterdir() if TEMPORARY.fullmatch(p.name)]
    assert not left, f"partial frames left: {left}"
    assert_same_frames(frames(tmp_path), local[3])


def test_a_preview_stays_local_and_a_cancel_stops_every_worker_within_two_seconds(cluster, clip, tmp_path):
    head, engine = cluster
    with engine.client() as client:
        job = client.submit_job(pipeline(tmp_path), items(clip), shot="cancelled")
        while (event := job.wait_event(120))["type"] != "progress" or "stage" in event:
            pass  # Analyze runs on one worker: wait for both to bake
        reply, _ = client.run({"kind": "file", "path": str(clip), "frame": 3}, pipeline(tmp_path / "preview")[:1],
                              timeout=60, shot="preview")  # the engine's own worker serves it meanwhile
        job.poll()
        assert reply["instances"] and job.finished is None, "the preview came while the bake ran"
        asked = time.monotonic()
        job.cancel()
        last = finish(job, 30)[-1]
        took = time.monotonic() - asked
    assert last["type"] == "cancelled" and last["done"] < FRAMES
    assert took < 2.0, f"the cancel took {took:.2f} s to stop the workers"  # the event follows every worker's stop
    workers = head.workers()
    used = [cpu_seconds(pid) for pid in workers]
    time.sleep(1.0)
    busy = [cpu_seconds(pid) - u for pid, u in zip(workers, used)]
    assert len(workers) == 2 and max(busy) < 0.25, f"CPU seconds used by the workers in the second after: {busy}"


def test_an_optimising_frame_on_the_cluster_reports_its_steps_and_cancels_inside_the_frame(cluster, clip):
    head, engine = cluster
    style = {"method": "optimise", "style_image": str(OPENCV_DATA / "starry_night.jpg"), "iterations": 200,
             "resolution": 96, "temporal": 0.0}
    with engine.client() as client:
        job = client.submit_job([{"stage": "neural_style", "params": style}], items(clip)[:1], shot="optimise")
        steps = []
        while len(steps) < 2:
            event = job.wait_event(120)
            if event["type"] == "accepted":
                continue
            assert event["type"] == "progress" and event["done"] == 0, event
            steps.append(event)
        assert [(e["stage"], e["steps"], e["total"]) for e in steps] == [("neural_style", 200, 1)] * 2
        assert 0 < steps[0]["step"] < steps[1]["step"] < 200
        asked = time.monotonic()
        job.cancel()
        last = finish(job, 30)[-1]
    assert last == {"type": "cancelled", "id": job.id, "done": 0} and time.monotonic() - asked < 2.0


def test_the_cluster_listens_on_loopback_only(cluster):
    head, engine = cluster
    ours = set(head.processes()) | {engine.process.pid, *children(engine.process.pid)}
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    found = [(line.split()[3], pid) for line in listening for pid in map(int, re.findall(r"pid=(\d+)", line))
             if pid in ours]
    assert len({pid for _, pid in found}) >= 4, f"expected the head's, workers' and engine's ports, found {found}"
    beyond = [(address, pid, command_line(pid)[:60]) for address, pid in found
              if not address.startswith(("127.0.0.1:", "[::1]:", "[::ffff:127.0.0.1]:"))]
    assert not beyond, f"listening beyond loopback: {beyond}"
