"""How a bake is split over a cluster, and the cluster's errors, without Ray (`cluster.plan`, `cluster.connect`)."""

from __future__ import annotations

import sys

import pytest

from instyle.cluster.connect import AUTH_MODE, AUTH_TOKEN, LOOPBACK_ONLY, join, parse_address
from instyle.cluster.plan import analyze_calls, chunks, handovers
from instyle.wire import InstyleError
from instyle.wire.requests import parse_job

CHAIN = [{"stage": "instance_mask", "params": {}, "write": "/cache/mask"},
         {"stage": "instance_tracker", "params": {"shot_start": 0}, "write": "/cache/tracker", "return": ["mask"]},
         {"stage": "neural_style", "params": {}, "write": "/cache/style"}]


def job(frames, pipeline=CHAIN):
    return parse_job({"id": 1, "type": "job", "pipeline": pipeline, "shot": "s",
                      "items": [{"source": {"kind": "file", "path": "/f.avi", "frame": f}, "frame_number": f + 1}
                                for f in frames]})


def test_analyze_runs_the_chain_up_to_the_tracker_writing_nothing_but_its_store():
    calls = analyze_calls(job([0]).pipeline)
    assert [c.name for c in calls] == ["instance_mask", "instance_tracker"]
    assert all(c.write_outputs == () and c.returns == () for c in calls)
    assert str(calls[1].write) == "/cache/tracker"  # where the track store goes


@pytest.mark.parametrize("tracker", [{"shot_start": -1}, None])
def test_nothing_to_analyze_without_a_recorded_shot(tracker):
    pipeline = [CHAIN[0], {**CHAIN[1], "params": tracker}] if tracker else [CHAIN[0]]
    assert analyze_calls(job([0], pipeline).pipeline) == ()
    unwritten = [CHAIN[0], {"stage": "instance_tracker", "params": {"shot_start": 0}}]
    assert analyze_calls(job([0], unwritten).pipeline) == ()


def test_chunks_are_runs_of_neighbours_in_footage_order():
    shuffled = job([5, 0, 3, 1, 4, 2, 6])
    runs = chunks(shuffled.items, workers=2)
    assert [[i.source.frame for i in run] for run in runs] == [[0, 1, 2, 3], [4, 5, 6]]
    assert [[i.source.frame for i in run] for run in chunks(shuffled.items, 2, chunk_frames=3)] == [[0, 1, 2],
                                                                                                  [3, 4, 5], [6]]
    assert len(chunks(job([0]).items, workers=8)) == 1
    with pytest.raises(ValueError):
        chunks(shuffled.items, workers=0)


def test_each_chunk_goes_on_from_the_frame_before_it_where_that_is_the_footage_frame_before():
    runs = chunks(job([0, 1, 2, 3, 5, 6]).items, workers=3)  # [0, 1] [2, 3] [5, 6]: 4 is not baked
    assert {a.source.frame: b.source.frame for a, b in handovers(runs).items()} == {1: 2}


@pytest.mark.parametrize("address, expected", [("auto", None), ("10.0.0.5:6379", ("10.0.0.5", 6379)),
                                               ("ray://head.studio:10001", ("head.studio", 10001)),
                                               ("[::1]:6379", ("::1", 6379))])
def test_cluster_addresses(address, expected):
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["head", "head:", ":6379", "head:port", "head:70000", "ray://"])
def test_a_bad_cluster_address_is_a_named_error(address):
    with pytest.raises(InstyleError) as err:
        join(address, "test")
    assert err.value.code == "bad_cluster_address" and "HOST:PORT" in err.value.hint


@pytest.mark.parametrize("address", ["auto", "127.0.0.1:6379"])
def test_without_ray_the_error_names_the_extra_to_install(monkeypatch, address):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where it is not installed
    for name in (LOOPBACK_ONLY, AUTH_MODE, AUTH_TOKEN):  # what `join` sets for Ray, undone after the test
        monkeypatch.setenv(name, "")
    with pytest.raises(InstyleError) as err:
        join(address, "test")
    assert err.value.code == "cluster_unavailable" and "pip install instyle[cluster]" in err.value.hint
