"""The real engine process over its real socket."""

from __future__ import annotations

import json
import os
import socket
import stat
import struct

import numpy as np
import pytest

from instyle.media import FrameSource
from instyle.wire import PROTOCOL_VERSION, EngineError, RuntimeInfo, connect, recv_message, send_message
from instyle.wire.framing import MAGIC, PREFIX

from ..conftest import VTEST

FULL_PIPELINE = [
    {"stage": "instance_mask", "params": {}},
    {"stage": "instance_tracker", "params": {}},
    {"stage": "neural_style", "params": {}, "return": ["image"]},
    {"stage": "mrf_blend", "params": {"band": 6.0}, "return": ["image", "alpha"]},
]


def arrays(reply, payloads):
    return {k: np.frombuffer(payloads[s["payload"]], dtype=s["dtype"]).reshape(s["shape"])
            for k, s in reply["arrays"].items()}


def test_ready_line_runtime_file_and_handshake(engine):
    assert "ready on 127.0.0.1:" in engine.ready_line
    assert stat.S_IMODE(os.stat(engine.runtime_file).st_mode) == 0o600
    with engine.client() as client:
        welcome = client.welcome
    assert welcome["protocol"] == PROTOCOL_VERSION and welcome["device"] == "cpu" and welcome["engine_version"]
    assert list(welcome["stages"]) == ["instance_mask", "instance_tracker", "neural_style", "mrf_blend"]
    assert welcome["stages"]["mrf_blend"]["params"]["band"]["type"] == "float"
    assert welcome["stages"]["instance_mask"]["params"]["classes"]["default"] == ["person"]


def test_wrong_token_is_rejected(engine):
    info = engine.info
    with pytest.raises(EngineError) as err:
        connect(RuntimeInfo(info.pid, "not-the-token", info.host, info.port))
    assert err.value.code == "unauthorized"


def test_a_frame_through_the_whole_pipeline(engine):
    with engine.client() as client:
        reply, payloads = client.run({"kind": "file", "path": str(VTEST), "frame": 20}, FULL_PIPELINE, timeout=120)
    out = arrays(reply, payloads)
    source = FrameSource().frame(str(VTEST), 20).astype(np.float32) / 255
    blended, alpha = out["mrf_blend.image"], out["mrf_blend.alpha"]
    assert blended.shape == source.shape == (576, 768, 3)
    people = [i for i in reply["instances"] if i["class"] == "person"]
    assert len(people) >= 3, reply["instances"]
    outside = alpha == 0
    assert outside.mean() > 0.5
    assert np.array_equal(blended[outside], source[outside])
    inside = alpha == 1
    assert inside.sum() > 500
    assert np.abs(blended[inside] - source[inside]).mean() > 0.05
    assert len({i["track_id"] for i in people}) == len(people)
    assert set(reply["timings_ms"]) >= {"decode", "instance_mask", "neural_style", "mrf_blend"}


def test_pixels_source_and_written_exr(engine, tmp_path):
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :, 1] = 200
    with engine.client() as client:
        reply, _ = client.request({"type": "run", "frame_number": 3, "shot": "px",
                                   "source": {"kind": "pixels", "array": {"dtype": "uint8", "shape": [48, 64, 3],
                                                                         "payload": 0}},
                                   "pipeline": [{"stage": "instance_mask", "params": {}, "write": str(tmp_path)}]},
                                  [frame.tobytes()], timeout=60)
    assert reply["instances"] == []
    assert sorted(os.path.relpath(p, tmp_path) for p in reply["written"]) == ["index/000003.exr", "mask/000003.exr"]
    import cv2
    mask = cv2.imread(reply["written"][0], cv2.IMREAD_UNCHANGED)
    assert mask.shape == (48, 64) and mask.dtype == np.float32 and not mask.any()  # one channel, Y


@pytest.mark.parametrize("request_header, code", [
    ({"source": {"kind": "file", "path": "/nonexistent.avi", "frame": 0}, "pipeline": [{"stage": "instance_mask"}]},
     "source_missing"),
    ({"source": {"kind": "file", "path": str(VTEST), "frame": 100000}, "pipeline": [{"stage": "instance_mask"}]},
     "frame_out_of_range"),
    ({"source": {"kind": "file", "path": str(VTEST), "frame": 0}, "pipeline": [{"stage": "posterize"}]},
     "unknown_stage"),
    ({"source": {"kind": "file", "path": str(VTEST), "frame": 0},
      "pipeline": [{"stage": "instance_mask", "params": {"colour": 1}}]}, "bad_param"),
    ({"source": {"kind": "file", "path": str(VTEST), "frame": 0},
      "pipeline": [{"stage": "neural_style", "params": {"style": "vangogh"}}]}, "bad_param"),
    ({"source": {"kind": "file", "path": str(VTEST), "frame": 0}, "pipeline": [{"stage": "instance_tracker"}]},
     "bad_request"),
])
def test_bad_requests_get_errors_that_name_the_problem(engine, request_header, code):
    with engine.client() as client:
        with pytest.raises(EngineError) as err:
            client.request({"type": "run", **request_header}, timeout=60)
        assert err.value.code == code and err.value.message
        assert client.ping()["type"] == "pong"


def test_errors_name_the_stage_and_the_parameter_at_fault(engine):
    """What the add-on needs to put an error on the right node, in that node's words."""
    source = {"kind": "file", "path": str(VTEST), "frame": 0}
    cases = [([{"stage": "neural_style", "params": {"style": "vangogh"}}], ("bad_param", "neural_style", "style")),
             ([{"stage": "instance_tracker"}], ("bad_request", "instance_tracker", "")),
             ([{"stage": "instance_mask"}, {"stage": "neural_style", "params": {"method": "arbitrary",
                                                                               "assign": "single"}}],
              ("bad_param", "neural_style", "style_image")),  # raised while the stage runs
             ([{"stage": "instance_mask"}, {"stage": "neural_style", "params": {"assign": "class",
                                                                               "class_styles": "preson=style03"}}],
              ("bad_param", "neural_style", "class_styles")),  # a typo in a class name
             ([{"stage": "instance_mask"}], None)]
    with engine.client() as client:
        for pipeline, expected in cases[:-1]:
            with pytest.raises(EngineError) as err:
                client.request({"type": "run", "source": source, "pipeline": pipeline}, timeout=60)
            assert (err.value.code, err.value.stage, err.value.param) == expected, err.value
        bad = dict(source, path="/nonexistent.avi")
        with pytest.raises(EngineError) as err:
            client.request({"type": "run", "source": bad, "pipeline": cases[-1][0]}, timeout=60)
        assert (err.value.code, err.value.stage) == ("source_missing", "")


def test_mrf_blend_without_a_style_before_it_passes_the_frame_unchanged(engine):
    """A muted Neural Style node: the chain runs without it, and MRF Blend has nothing to blend."""
    with engine.client() as client:
        reply, payloads = client.run({"kind": "file", "path": str(VTEST), "frame": 20},
                                     [{"stage": "instance_mask"}, {"stage": "mrf_blend", "return": ["image", "alpha"]}],
                                     timeout=60)
    out = arrays(reply, payloads)
    assert len(reply["instances"]) >= 3 and not out["mrf_blend.alpha"].any()
    assert np.array_equal(out["mrf_blend.image"], FrameSource().frame(str(VTEST), 20).astype(np.float32) / 255)


def test_nan_pixels_are_rejected(engine):
    bad = np.full((8, 8, 3), np.nan, np.float32)
    with engine.client() as client, pytest.raises(EngineError) as err:
        client.request({"type": "run", "source": {"kind": "pixels", "array": {"dtype": "float32", "shape": [8, 8, 3],
                                                                              "payload": 0}},
                        "pipeline": [{"stage": "instance_mask"}]}, [bad.tobytes()])
    assert err.value.code == "bad_pixels"


def test_garbage_and_oversized_messages_are_answered_and_others_keep_working(engine):
    with engine.client("bystander") as bystander:
        garbage = engine.raw_socket()
        garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reply, _ = recv_message(garbage)
        assert reply["type"] == "error" and "magic" in reply["message"]
        garbage.close()

        huge = engine.raw_socket()
        huge.sendall(PREFIX.pack(MAGIC, 1, 0, 0, 2, 1) + struct.pack("!Q", 1 << 40))
        reply, _ = recv_message(huge)
        assert reply["type"] == "error" and reply["code"] == "too_large"
        huge.close()

        truncated = engine.raw_socket()
        truncated.sendall(PREFIX.pack(MAGIC, 1, 0, 0, 100, 0) + b"{}")
        truncated.close()

        schema = engine.raw_socket()
        send_message(schema, {"type": "run", "id": 5, "source": "nope", "pipeline": []})
        reply, _ = recv_message(schema)
        assert reply["type"] == "error" and reply["id"] == 5
        send_message(schema, {"type": "ping", "id": 6})
        assert recv_message(schema)[0] == {"type": "pong", "id": 6}
        schema.close()

        assert bystander.ping()["type"] == "pong"


def test_clients_that_never_say_hello_are_dropped(engine):
    info = engine.info
    sock = socket.create_connection((info.host, info.port), timeout=10)
    send_message(sock, {"type": "ping", "id": 1})
    reply, _ = recv_message(sock)
    assert reply["code"] == "bad_handshake"
    sock.close()


def test_status_command_prints_the_handshake(engine):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "instyle.cli", "status", "--runtime-file", str(engine.runtime_file),
                             "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stages"]["neural_style"]["params"]["strength"]["max"] == 1.0


def test_non_loopback_bind_needs_explicit_consent(tmp_path):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "instyle.cli", "serve", "--host", "0.0.0.0", "--runtime-file",
                             str(tmp_path / "e.json")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--allow-remote" in result.stderr


def test_a_missing_manifest_is_named_as_such_not_as_a_port_problem(tmp_path):
    import os
    import subprocess
    import sys
    env = {**os.environ, "INSTYLE_MANIFEST": str(tmp_path / "missing.json")}
    result = subprocess.run([sys.executable, "-m", "instyle.cli", "serve", "--device", "cpu", "--runtime-file",
                             str(tmp_path / "e.json")], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2 and "weights manifest" in result.stderr and "INSTYLE_MANIFEST" in result.stderr
    assert "--port" not in result.stderr


def test_echo_through_payloads_and_shared_memory(engine):
    from multiprocessing import shared_memory

    frame = np.random.default_rng(1).random((108, 192, 4), dtype=np.float32)
    spec = {"dtype": "float32", "shape": list(frame.shape)}
    with engine.client() as client:
        reply, payloads = client.request({"type": "echo", "source": {"kind": "pixels", "array": {**spec, "payload": 0}}},
                                         [frame.tobytes()], timeout=30)
        back = np.frombuffer(payloads[0], np.float32).reshape(frame.shape)
        assert np.array_equal(back, frame)

        segment = shared_memory.SharedMemory(create=True, size=2 * frame.nbytes + 64)
        try:
            np.ndarray(frame.shape, np.float32, segment.buf)[:] = frame
            reply, payloads = client.request({"type": "echo", "shm": {"name": segment.name},
                                              "source": {"kind": "pixels", "array": {**spec, "shm_offset": 0}}},
                                             timeout=30)
            assert payloads == []
            out = reply["arrays"]["echo.image"]
            assert out["shm_offset"] >= frame.nbytes
            back = np.ndarray(frame.shape, np.float32, segment.buf, offset=out["shm_offset"])
            assert np.array_equal(back, frame)
            with pytest.raises(EngineError) as err:
                client.request({"type": "echo", "shm": {"name": segment.name},
                                "source": {"kind": "pixels", "array": {**spec, "shm_offset": frame.nbytes + 128}}})
            assert "do not fit" in err.value.message
            del back
        finally:
            segment.close()
            segment.unlink()
        with pytest.raises(EngineError) as err:
            client.request({"type": "echo", "shm": {"name": "instyle-no-such-segment"},
                            "source": {"kind": "pixels", "array": {**spec, "shm_offset": 0}}})
        assert err.value.code == "bad_shm"


def test_engine_exits_when_its_parent_dies(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    runtime = tmp_path / "engine.json"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, os, time\n"
        f"subprocess.Popen([sys.executable, '-m', 'instyle.cli', 'serve', '--runtime-file', {str(runtime)!r},"
        " '--parent-pid', str(os.getpid())])\n"
        "time.sleep(600)\n")])
    deadline = time.monotonic() + 120
    from instyle.wire import read_runtime
    while read_runtime(runtime) is None:
        assert time.monotonic() < deadline, "engine did not start"
        time.sleep(0.1)
    engine_pid = read_runtime(runtime).pid
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(engine_pid, 0)
        except ProcessLookupError:
            break
        if open(f"/proc/{engine_pid}/stat").read().split(")")[-1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        os.kill(engine_pid, 9)
        raise AssertionError("the engine outlived its parent by 10 s")
    assert not runtime.exists() or read_runtime(runtime) is None


def test_cli_bake_shows_progress_and_writes_frames(engine, tmp_path):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "instyle.cli", "bake", str(VTEST), "--frames", "0-2", "--out",
                             str(tmp_path), "--runtime-file", str(engine.runtime_file)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "3/3 frames" in result.stderr and "baked 3 frame(s)" in result.stdout
    assert sorted(os.listdir(tmp_path / "mrf_blend" / "alpha")) == ["000000.exr", "000001.exr", "000002.exr"]


def test_unix_socket_is_private_and_serves(tmp_path):
    from .conftest import start_engine, stop_engine
    path = tmp_path / "engine.sock"
    unix_engine = start_engine(tmp_path, "--unix", str(path))
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert unix_engine.info.unix_path == str(path) and f"unix:{path}" in unix_engine.ready_line
        with unix_engine.client() as client:
            assert client.ping()["type"] == "pong"
    finally:
        stop_engine(unix_engine)
    assert not path.exists()
