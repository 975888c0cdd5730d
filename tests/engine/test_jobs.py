"""Bakes as jobs in the real engine: several clients, progress, cancel, priority, memory release."""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
import pytest

from instyle.wire import EngineError

from ..conftest import OPENCV_DATA, VTEST

MASK_ONLY = [{"stage": "instance_mask", "params": {}}]


def items(first: int, count: int) -> list[dict]:
    return [{"source": {"kind": "file", "path": str(VTEST), "frame": f}, "frame_number": f + 1}
            for f in range(first, first + count)]


def written_pipeline(folder) -> list[dict]:
    return [{"stage": "instance_mask", "params": {}, "write": str(folder), "write_outputs": ["mask"]}]


def finish(job, timeout=300.0) -> list[dict]:
    events = []
    deadline = time.monotonic() + timeout
    while job.finished is None:
        events.append(job.wait_event(max(deadline - time.monotonic(), 0.1)))
    return events


def test_two_clients_bake_at_once_and_get_correct_frames(engine, tmp_path):
    with engine.client("a") as a, engine.client("b") as b:
        job_a = a.submit_job(written_pipeline(tmp_path / "a"), items(0, 4), shot="a")
        job_b = b.submit_job(written_pipeline(tmp_path / "b"), items(100, 4), shot="b")
        events_a, events_b = finish(job_a), finish(job_b)
        assert events_a[-1] == {"type": "result", "id": job_a.id, "done": 4, "total": 4}
        assert events_b[-1]["type"] == "result"
        progress = [e for e in events_a if e["type"] == "progress"]
        assert [e["done"] for e in progress] == [1, 2, 3, 4] and all(e["total"] == 4 for e in progress)
        assert all("eta_s" in e and e["frame"] for e in progress)
        for frame in (100, 101, 102):  # the matte is recurrent: the same history gives the same mask
            reply, payloads = b.run({"kind": "file", "path": str(VTEST), "frame": frame},
                                    [{"stage": "instance_mask", "params": {}, "return": ["mask"]}], timeout=120,
                                    shot="b-again")
    direct = np.frombuffer(payloads[0], np.float32).reshape(576, 768)
    baked = cv2.imread(str(tmp_path / "b" / "mask" / "000103.exr"), cv2.IMREAD_UNCHANGED)  # one channel
    assert direct.max() == 1.0 and np.abs(baked - direct).max() < 2e-3
    assert sorted(os.listdir(tmp_path / "a" / "mask")) == [f"{f:06d}.exr" for f in range(1, 5)]


def test_cancelling_one_job_leaves_the_other_running(engine, tmp_path):
    with engine.client("a") as a, engine.client("b") as b:
        long_job = a.submit_job(MASK_ONLY, items(0, 60), shot="long")
        b.ping(), b.ping()
        other = b.submit_job(MASK_ONLY, items(200, 3), shot="other")
        assert other.id != long_job.id
        assert long_job.wait_event(120)["type"] == "progress"
        with pytest.raises(EngineError) as err:
            b.request({"type": "cancel", "job": long_job.id}, timeout=10)
        assert err.value.code == "unknown_job"
        long_job.cancel()  # returns once the engine accepted it: the job's events sent before are in its inbox
        done = max([e["done"] for e in long_job.poll() if e["type"] == "progress"], default=1)
        events = finish(long_job, 30)
        assert events[-1]["type"] == "cancelled"
        assert events[-1]["done"] <= done + 1, "the cancel lands before the frame after the one in progress starts"
        assert finish(other)[-1] == {"type": "result", "id": other.id, "done": 3, "total": 3}


def test_an_optimising_frame_reports_each_iteration_and_cancels_inside_the_frame(engine):
    style = {"method": "optimise", "style_image": str(OPENCV_DATA / "starry_night.jpg"), "iterations": 200,
             "resolution": 96, "temporal": 0.0}
    with engine.client("a") as a:
        job = a.submit_job([{"stage": "neural_style", "params": style}], items(0, 2), shot="optimise")
        steps = []
        while len(steps) < 3:
            event = job.wait_event(120)
            if event["type"] == "accepted":
                continue
            assert event["type"] == "progress" and event["done"] == 0, event
            steps.append(event)
        assert [(e["stage"], e["step"], e["steps"]) for e in steps] == [("neural_style", i, 200) for i in (1, 2, 3)]
        assert all(e["frame"] == 1 and e["total"] == 2 and e["eta_s"] > 0 for e in steps)
        job.cancel()
        events = finish(job)
        assert events[-1] == {"type": "cancelled", "id": job.id, "done": 0}
        assert len(steps) + len(events) - 1 < 200  # between iterations, not after the frame's 200


def test_an_interactive_frame_overtakes_a_long_bake():
    """The engine's worker takes an interactive frame before the bake's next frame: in the order it sends its
    messages, the frame's reply follows at most the bake's frame in progress when it was asked (the real stages;
    the order, not the time, is checked)."""
    import threading

    import torch

    from instyle.scheduler import Scheduler
    from instyle.service import Service
    from instyle.wire.requests import parse_job, parse_run

    sent = []
    seen = {("baker", "progress"): threading.Event(), ("artist", "result"): threading.Event(),
            ("baker", "cancelled"): threading.Event()}

    def send(owner, header, payloads=()):
        sent.append((owner, header["type"]))
        if (owner, header["type"]) in seen:
            seen[owner, header["type"]].set()
    scheduler = Scheduler(Service(torch.device("cpu")).execute, send)
    try:
        scheduler.submit_job("baker", parse_job({"id": 1, "type": "job", "pipeline": MASK_ONLY,
                                                 "items": items(300, 40), "shot": "bake"}))
        assert seen["baker", "progress"].wait(120)
        scheduler.submit_run("artist", parse_run({"id": 2, "type": "run", "pipeline": MASK_ONLY,
                                                  "source": {"kind": "file", "path": str(VTEST), "frame": 5}}), [])
        assert seen["artist", "result"].wait(120)
        scheduler.cancel("baker", 1)
        assert seen["baker", "cancelled"].wait(120)
    finally:
        scheduler.stop()
    reply = sent.index(("artist", "result"))
    assert sent[:reply].count(("baker", "progress")) <= 2, "the frame waited for more than the bake's frame in hand"
    assert sent[-1] == ("baker", "cancelled") and sent.count(("baker", "progress")) < 40


def test_bad_jobs_are_refused_before_they_queue(engine):
    with engine.client() as client:
        with pytest.raises(EngineError) as err:
            client.submit_job(MASK_ONLY, [{"source": {"kind": "file", "path": str(VTEST), "frame": 0}}])
        assert err.value.code == "bad_request" and "frame_number" in err.value.message
        with pytest.raises(EngineError) as err:
            client.submit_job([{"stage": "instance_mask", "params": {"grow": 99}}], items(0, 1))
        assert err.value.code == "bad_param"
        failing = client.submit_job(MASK_ONLY, [{"source": {"kind": "file", "path": "/missing.avi", "frame": 0},
                                                 "frame_number": 1}])
        last = finish(failing)[-1]
        assert last["type"] == "error" and last["code"] == "source_missing" and last["frame"] == 1


def test_free_memory_unloads_models_that_load_again(engine):
    with engine.client() as client:
        client.run({"kind": "file", "path": str(VTEST), "frame": 0}, MASK_ONLY, timeout=120)
        freed = client.free_memory()
        assert freed["released_bytes"] > 1_000_000
        assert client.free_memory()["released_bytes"] == 0
        reply, _ = client.run({"kind": "file", "path": str(VTEST), "frame": 0}, MASK_ONLY, timeout=120)
        assert reply["instances"]
