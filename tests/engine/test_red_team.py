"""The standing red-team suite: a real engine on loopback attacked as an outside tester would (issue 18).

Every attack ends in a named error code (or, where the engine can do the work, in a result), and the engine keeps
serving. Attacks that need privileges this machine lacks (another user via setpriv, a tmpfs mount) skip with the
reason; a variant that always runs stays beside each.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from multiprocessing import shared_memory
from pathlib import Path

import cv2
import numpy as np
import pytest

from instyle.wire import PROTOCOL_VERSION, EngineError, encode_message, recv_message, send_message
from instyle.wire.framing import LENGTH, MAGIC, PREFIX
from instyle.wire.atomic_files import HOST

from ..conftest import OPENCV_DATA, VTEST
from .conftest import start_engine, stop_engine

BLEND = [{"stage": "mrf_blend"}]  # the cheapest stage: the frame passes unchanged
MASK = [{"stage": "instance_mask", "return": ["mask"]}]
SLOW = [{"stage": "neural_style", "return": ["image"],  # seconds of optimisation: the segment shrinks meanwhile
         "params": {"method": "optimise", "style_image": str(OPENCV_DATA / "starry_night.jpg"), "iterations": 40,
                    "resolution": 96, "temporal": 0.0}}]
NOBODY = 65534


def pixels(array: np.ndarray) -> dict:
    return {"kind": "pixels", "array": {"dtype": array.dtype.name, "shape": list(array.shape), "payload": 0}}


def still_serves(engine) -> None:
    assert engine.process.poll() is None, f"the engine exited with {engine.process.returncode}"
    with engine.client("bystander") as client:
        assert client.ping()["type"] == "pong"


def resident_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def run_error(client, header: dict, payloads=(), timeout: float = 60) -> EngineError:
    with pytest.raises(EngineError) as err:
        client.request({"type": "run", **header}, payloads, timeout=timeout)
    return err.value


# --- 1. shared memory truncated during a run -------------------------------------------------------------------


def test_a_segment_truncated_during_a_run_is_a_named_error_not_a_crash(engine):
    frame = cv2.cvtColor(cv2.VideoCapture(str(VTEST)).read()[1], cv2.COLOR_BGR2RGB)
    segment = shared_memory.SharedMemory(create=True, size=6 * frame.nbytes)  # the frame, and the float image back
    errors = []
    try:
        np.ndarray(frame.shape, np.uint8, segment.buf)[:] = frame
        with engine.client() as client:
            header = {"type": "run", "shm": {"name": segment.name}, "pipeline": SLOW,
                      "source": {"kind": "pixels", "array": {"dtype": "uint8", "shape": list(frame.shape),
                                                             "shm_offset": 0}}}
            request = threading.Thread(target=lambda: errors.append(run_error(client, header)))
            request.start()
            time.sleep(0.15)  # the request is on its way; the slow stage takes seconds before it returns its image
            os.truncate(f"/dev/shm/{segment.name}", 0)
            request.join(120)
        assert errors and errors[0].code == "shm_truncated", errors
    finally:
        segment.close()
        segment.unlink()
    still_serves(engine)


def test_reads_and_writes_of_a_shrunk_segment_are_named_errors():
    from instyle.wire import ProtocolError
    from instyle.wire.shm import attach

    segment = shared_memory.SharedMemory(create=True, size=1 << 16)
    try:
        attached = attach(segment.name)
        os.truncate(f"/dev/shm/{segment.name}", 100)
        for attempt in (lambda: attached.read_into(0, memoryview(bytearray(1 << 15))),
                        lambda: attached.write(1 << 10, memoryview(b"x" * 64))):
            with pytest.raises(ProtocolError) as err:
                attempt()
            assert err.value.code == "shm_truncated"
        attached.close()
    finally:
        segment.close()
        segment.unlink()


# --- 2. slow handshakes ----------------------------------------------------------------------------------------

TRICKLER = """
import re, select, socket, sys, time
host, port, count, hello = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), bytes.fromhex(sys.argv[4])
socks = [socket.create_connection((host, port)) for _ in range(count)]
print("connected", flush=True)
sent = 0
while socks:
    for s in socks:
        try:
            s.send(hello[sent:sent + 1])
        except OSError:
            pass
    sent = min(sent + 1, len(hello) - 1)  # one byte a second, never the last
    end = time.monotonic() + 1.0
    while socks and time.monotonic() < end:
        ready = select.select(socks, [], [], max(end - time.monotonic(), 0))[0]
        for s in ready:
            try:
                data = s.recv(1 << 16)
            except OSError:
                data = b""
            code = re.search(rb'"code":"(\\w+)"', data)
            print("closed", code.group(1).decode() if code else "-", flush=True)
            socks.remove(s)
            s.close()
"""


def trickle(engine, count: int, as_user: int | None = None) -> subprocess.Popen:
    """`count` connections that send a valid hello one byte a second, never finishing it."""
    info = engine.info
    hello = b"".join(bytes(p) for p in encode_message({"type": "hello", "protocol": PROTOCOL_VERSION, "token": "x" * 43}))
    prefix = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups"] if as_user else []
    process = subprocess.Popen([*prefix, sys.executable, "-S", "-c", TRICKLER, info.host, str(info.port), str(count),
                                hello.hex()], stdout=subprocess.PIPE, text=True, cwd="/")
    assert process.stdout.readline().strip() == "connected"
    return process


def connect_time(engine) -> float:
    start = time.monotonic()
    with engine.client("owner") as client:
        assert client.ping()["type"] == "pong"
    return time.monotonic() - start


def test_slow_handshakes_from_the_same_user_do_not_lock_its_next_client_out(engine):
    """50 trickling connections: each new connection closes that user's oldest unfinished handshake (with a
    named error), so the owner's client gets in at once; the rest are cut at the handshake's deadline (10 s)."""
    tricklers = trickle(engine, 50)
    try:
        assert connect_time(engine) < 2.0
        assert tricklers.stdout.readline().split() == ["closed", "busy"]  # one of the oldest made way
        deadline = time.monotonic() + 20
        codes = set()
        while "handshake_timeout" not in codes and time.monotonic() < deadline:
            codes.add(tricklers.stdout.readline().split()[-1])
        assert "handshake_timeout" in codes, codes
    finally:
        tricklers.kill()
        tricklers.wait()
    still_serves(engine)


def test_deadlines_cut_a_silent_connection_and_a_client_stalled_mid_message_with_named_errors():
    """The same deadlines as the served engine's (10 s for the hello, 120 s a message), shortened."""
    import torch

    from instyle.server import EngineServer
    from instyle.service import Service

    server = EngineServer(Service(torch.device("cpu")), "token", hello_timeout=0.5, message_timeout=0.5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        assert recv_message(silent)[0]["code"] == "handshake_timeout"
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        send_message(stalled, {"type": "hello", "protocol": PROTOCOL_VERSION, "token": "token"})
        assert recv_message(stalled)[0]["type"] == "welcome"
        stalled.sendall(PREFIX.pack(MAGIC, 1, 0, 0, 100, 0) + b"{")  # a 100-byte header, 1 byte of it sent
        started = time.monotonic()
        assert recv_message(stalled)[0]["code"] == "too_slow"
        assert time.monotonic() - started < 5
        silent.close()
        stalled.close()
    finally:
        server.stop()


def can_setpriv() -> str:
    if shutil.which("setpriv") is None:
        return "setpriv is not installed"
    if os.geteuid() != 0:
        return "switching to the nobody user needs root"
    result = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                             "-S", "-c", "pass"], capture_output=True, text=True, cwd="/")
    return "" if result.returncode == 0 else f"setpriv cannot run Python as nobody here: {result.stderr.strip()}"


@pytest.mark.skipif(bool(can_setpriv()), reason=can_setpriv() or "-")
def test_slow_handshakes_from_an_unprivileged_user_do_not_lock_the_owner_out(engine):
    tricklers = trickle(engine, 50, as_user=NOBODY)
    try:
        assert connect_time(engine) < 2.0
        status = subprocess.run([sys.executable, "-m", "instyle.cli", "status", "--runtime-file",
                                 str(engine.runtime_file)], capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert "busy" in [line.split()[-1] for line in (tricklers.stdout.readline() for _ in range(3))]
    finally:
        tricklers.kill()
        tricklers.wait()
    still_serves(engine)


# --- 3. symlinks planted at temporary names --------------------------------------------------------------------


def plant(link: Path, victim: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)


def test_symlinks_at_temporary_names_are_never_followed(tmp_path, monkeypatch):
    """The names the engine used to write through (`.<name>.<pid>[.<thread>].tmp[.exr]`) and, with the random
    part forced, the names it uses now: a planted link is never written through."""
    import secrets

    from instyle.media import write_exr
    from instyle.track_store import TrackStore
    from instyle.wire import RuntimeInfo, read_runtime, write_runtime

    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    victim.chmod(0o644)
    pid, thread = os.getpid(), threading.get_ident()
    plant(tmp_path / "cache" / f".000001.{pid}.{thread}.tmp.exr", victim)
    plant(tmp_path / "tracks" / f".tracks.jsonl.{pid}.tmp", victim)
    plant(tmp_path / "run" / f".engine.json.{pid}.tmp", victim)

    write_exr(tmp_path / "cache" / "000001.exr", np.zeros((4, 4), np.float32))
    TrackStore(tmp_path / "tracks" / "tracks.jsonl", "key").put(3, np.zeros((1, 4)), np.ones(1))
    write_runtime(tmp_path / "run" / "engine.json", RuntimeInfo(pid, "secret-token", "127.0.0.1", 1))
    assert victim.read_text() == "someone else's file"
    assert cv2.imread(str(tmp_path / "cache" / "000001.exr"), cv2.IMREAD_UNCHANGED).shape == (4, 4)
    assert TrackStore(tmp_path / "tracks" / "tracks.jsonl", "key").get(3) is not None
    assert read_runtime(tmp_path / "run" / "engine.json").token == "secret-token"
    assert stat.S_IMODE(os.stat(tmp_path / "run" / "engine.json").st_mode) == 0o600

    monkeypatch.setattr(secrets, "token_hex", lambda n=None: "guessed")
    plant(tmp_path / "cache" / f".000002.{HOST}@{pid}.guessed.tmp.exr", victim)
    with pytest.raises(FileExistsError):
        write_exr(tmp_path / "cache" / "000002.exr", np.zeros((4, 4), np.float32))
    assert victim.read_text() == "someone else's file"


def test_the_engine_writes_no_file_through_a_link_at_the_trackers_old_temporary_name(engine, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    folder = tmp_path / "tracker"
    plant(folder / f".tracks.jsonl.{engine.process.pid}.tmp", victim)
    with engine.client() as client:
        client.run({"kind": "file", "path": str(VTEST), "frame": 0},
                   [{"stage": "instance_mask"}, {"stage": "instance_tracker", "write": str(folder),
                                                 "params": {"shot_start": 0}, "write_outputs": ["ids"]}], timeout=120, frame_number=0)
    assert victim.read_text() == "someone else's file"
    assert (folder / "tracks.jsonl").read_text().startswith('{"instyle_tracks"')


# --- 4. a sticky reader ----------------------------------------------------------------------------------------


def truncated_video(path: Path, frames: int = 60) -> Path:
    capture = cv2.VideoCapture(str(VTEST))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(frames):
        writer.write(capture.read()[1])
    writer.release()
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    return path


def test_a_failed_read_leaves_the_other_frames_of_a_truncated_video_readable(engine, tmp_path):
    video = str(truncated_video(tmp_path / "cut.avi"))
    with engine.client() as client:
        err = run_error(client, {"source": {"kind": "file", "path": video, "frame": 40}, "pipeline": BLEND})
        assert err.code == "frame_out_of_range" and "frame 40 " in err.message, err
        for frame in (0, 1):
            reply, _ = client.run({"kind": "file", "path": video, "frame": frame}, BLEND, timeout=60)
            assert reply["size"] == [768, 576]
    still_serves(engine)


# --- 5. cache folders that cannot be written -------------------------------------------------------------------


def mount_tmpfs(folder: Path, options: str) -> str:
    """Mount a tmpfs at `folder`; the reason it cannot be mounted, or ""."""
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        return "mount is not installed"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                            text=True)
    return "" if result.returncode == 0 else f"cannot mount a tmpfs here: {result.stderr.strip()}"


def write_error(engine, folder: Path) -> EngineError:
    frame = np.full((576, 768, 3), 90, np.uint8)
    with engine.client() as client:
        return run_error(client, {"source": pixels(frame), "frame_number": 1,
                                  "pipeline": [{"stage": "mrf_blend", "write": str(folder)}]}, [frame.tobytes()])


def test_a_full_cache_disk_is_a_named_error(engine, tmp_path):
    folder = tmp_path / "full"
    reason = mount_tmpfs(folder, "size=1m")
    if reason:
        pytest.skip(reason)
    try:
        with open(folder / "filler", "wb", buffering=0) as filler:  # a full disk (a frame is under 1 MB now)
            with pytest.raises(OSError) as full:
                for _ in range(64):
                    filler.write(b"\0" * 65536)
        assert full.value.errno == errno.ENOSPC
        err = write_error(engine, folder / "cache")
        assert (err.code, err.stage) == ("cache_full", "mrf_blend") and "free space" in err.hint, err
        assert not [p for p in (folder / "cache").rglob(".*")], "a temporary file was left"
    finally:
        subprocess.run(["umount", str(folder)], check=False)
    still_serves(engine)


def test_read_only_missing_and_file_cache_folders_are_named_errors(engine, tmp_path):
    read_only = tmp_path / "read_only"
    if os.geteuid() == 0:  # root writes through permission bits: a read-only mount stops it
        reason = mount_tmpfs(read_only, "ro,size=1m")
        if reason:
            pytest.skip(f"running as root, and {reason}")
    else:
        read_only.mkdir()
        read_only.chmod(0o555)
    try:
        err = write_error(engine, read_only / "cache")
        assert err.code == "cache_read_only" and "writable" in err.hint, err
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(read_only)], check=False)
    assert write_error(engine, Path("/proc/instyle-missing/cache")).code == "cache_missing"
    (tmp_path / "a_file").write_text("not a folder")
    assert write_error(engine, tmp_path / "a_file").code == "cache_not_folder"
    still_serves(engine)


# --- 6. tiny, huge, 16-bit, grey and RGBA images ---------------------------------------------------------------


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` pixels, with one row of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack("!IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" + bytes(3 * min(width, 1000)))) + chunk(b"IEND", b""))


def test_odd_images_are_rendered_or_named(engine, tmp_path):
    rng = np.random.default_rng(3)
    files = {"grey.png": (rng.random((20, 30)) * 255).astype(np.uint8),
             "deep.png": (rng.random((20, 30, 3)) * 65535).astype(np.uint16),
             "deep_grey.png": (rng.random((20, 30)) * 65535).astype(np.uint16),
             "rgba.png": (rng.random((20, 30, 4)) * 255).astype(np.uint8),
             "tiny.png": np.full((1, 1, 3), 200, np.uint8)}
    style = [{"stage": "neural_style", "params": {"region": "frame", "temporal": 0.0}, "return": ["image"]}]
    with engine.client() as client:
        for name, image in files.items():
            cv2.imwrite(str(tmp_path / name), image)
            reply, payloads = client.run({"kind": "file", "path": str(tmp_path / name), "frame": 0}, style, timeout=60)
            assert reply["size"] == [image.shape[1], image.shape[0]], name
        for side in (1, 2, 3):  # whole-frame style on frames smaller than the network's padding
            tiny = np.full((side, side, 4), 120, np.uint8)  # RGBA pixels from the client
            reply, payloads = client.request({"type": "run", "source": pixels(tiny), "pipeline": style},
                                             [tiny.tobytes()], timeout=60)
            assert len(payloads[0]) == side * side * 3 * 4
        (tmp_path / "huge.png").write_bytes(png_declaring(60000, 60000))
        err = run_error(client, {"source": {"kind": "file", "path": str(tmp_path / "huge.png"), "frame": 0},
                                 "pipeline": BLEND})
        assert err.code == "source_unreadable" and "2^30" in err.hint, err
    still_serves(engine)


EVERY_STAGE = [{"stage": "instance_mask", "return": ["mask"]},
               {"stage": "instance_tracker", "params": {"shot_start": 0}, "return": ["ids"]},
               {"stage": "neural_style", "params": {"temporal": 0.0}, "return": ["image"]},
               {"stage": "mrf_blend", "return": ["image", "alpha"]}]


def test_odd_images_through_every_stage_give_results_or_named_errors(engine, tmp_path):
    """16-bit, grey, 16-bit grey and RGBA files, and frames of 1x1 and 2x2 pixels (files, and RGBA pixels from the
    client), through all four stages, each run on its own and as one pipeline: a result of the image's size, or a
    named error, never "internal"."""
    rng = np.random.default_rng(5)
    files = {"grey.png": (rng.random((20, 30)) * 255).astype(np.uint8),
             "deep.png": (rng.random((20, 30, 3)) * 65535).astype(np.uint16),
             "deep_grey.png": (rng.random((20, 30)) * 65535).astype(np.uint16),
             "rgba.png": (rng.random((20, 30, 4)) * 255).astype(np.uint8),
             "one.png": np.full((1, 1, 3), 200, np.uint8),
             "two.png": (rng.random((2, 2, 3)) * 255).astype(np.uint8)}
    sources = []
    for name, image in files.items():
        cv2.imwrite(str(tmp_path / name), image)
        sources.append((name, image.shape[:2], {"kind": "file", "path": str(tmp_path / name), "frame": 0}, None))
    for side in (1, 2):
        tiny = (rng.random((side, side, 4)) * 255).astype(np.uint8)
        sources.append((f"pixels {side}x{side}", tiny.shape[:2], pixels(tiny), tiny.tobytes()))
    pipelines = [EVERY_STAGE[:1], EVERY_STAGE[:2], EVERY_STAGE[2:3], EVERY_STAGE[3:], EVERY_STAGE]
    outcomes = []
    with engine.client() as client:
        for name, (h, w), source, payload in sources:
            for k, pipeline in enumerate(pipelines):
                request = {"type": "run", "source": source, "pipeline": pipeline, "shot": f"{name}-{k}"}
                try:
                    reply, payloads = client.request(request, [payload] if payload else [], timeout=120)
                except EngineError as err:
                    assert err.code != "internal", (name, pipeline, err)
                    outcomes.append(err.code)
                    continue
                assert reply["size"] == [w, h], (name, pipeline)
                for spec in reply["arrays"].values():
                    assert spec["shape"][:2] == [h, w], (name, pipeline, spec)
                outcomes.append("result")
    assert outcomes.count("result") >= len(outcomes) // 2, outcomes
    still_serves(engine)


# --- 7. malformed and stalled messages from two clients at once ------------------------------------------------


def test_two_clients_at_once_one_hostile(engine, tmp_path):
    with engine.client("baker") as baker:
        job = baker.submit_job(MASK, [{"source": {"kind": "file", "path": str(VTEST), "frame": f},
                                       "frame_number": f} for f in range(3)], shot="baker")
        events = [job.wait_event(120)]  # a frame computed: the models are in memory
        info = engine.info
        for bad_type in ({"a": 1}, [1, 2]):  # before the handshake: an answer, not a dead thread
            sock = socket.create_connection((info.host, info.port), timeout=30)
            send_message(sock, {"type": bad_type, "protocol": PROTOCOL_VERSION, "token": info.token})
            assert recv_message(sock)[0]["code"] == "bad_handshake"
            sock.close()
        hostile = engine.raw_socket()
        for bad_type in ({"a": 1}, [1, 2]):  # and after it
            send_message(hostile, {"type": bad_type, "id": 9})
            reply = recv_message(hostile)[0]
            assert reply["code"] == "unknown_type" and reply["id"] == 9, reply
        before = resident_bytes(engine.process.pid)
        hostile.sendall(PREFIX.pack(MAGIC, 1, 0, 0, 2, 1) + LENGTH.pack(1 << 30) + b"{}")  # 1 GiB declared, not sent
        time.sleep(1.0)
        assert resident_bytes(engine.process.pid) - before < 256 << 20, "a declared payload was allocated up front"
        hostile.close()
        while job.finished is None:
            events.append(job.wait_event(120))
        assert events[-1] == {"type": "result", "id": job.id, "done": 3, "total": 3}
    still_serves(engine)


# --- 8. a job over a sequence with missing frames --------------------------------------------------------------


def test_a_job_does_the_frames_it_can_and_lists_the_missing_ones(engine, tmp_path):
    for number in (1, 2, 4):
        cv2.imwrite(str(tmp_path / f"plate.{number:04d}.png"), np.full((24, 32, 3), 40 * number, np.uint8))
    pattern = str(tmp_path / "plate.####.png")
    out = tmp_path / "out"
    with engine.client() as client:
        job = client.submit_job([{"stage": "mrf_blend", "write": str(out), "write_outputs": ["image"]}],
                                [{"source": {"kind": "file", "path": pattern, "frame": n}, "frame_number": n}
                                 for n in (1, 2, 3, 4)])
        events = []
        while job.finished is None:
            events.append(job.wait_event(60))
    assert events[-1] == {"type": "result", "id": job.id, "done": 3, "total": 4, "missing": [3]}
    assert sorted(os.listdir(out / "image")) == ["000001.exr", "000002.exr", "000004.exr"]


# --- 9. the Unix socket of another program ---------------------------------------------------------------------


def test_serve_refuses_a_live_unix_socket_and_replaces_only_a_stale_one_of_its_own(tmp_path, capsys):
    from instyle import unix_socket
    from instyle.cli import main

    path = tmp_path / "other.sock"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(path))
    other.listen()
    try:
        code = main(["serve", "--unix", str(path), "--device", "cpu", "--runtime-file", str(tmp_path / "e.json")])
        message = capsys.readouterr().err
        assert code == 2 and "another program serves" in message and "--unix" in message and "--port" not in message
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(str(path))  # still the other program's
        probe.close()
    finally:
        other.close()
    unix_socket.claim(path)  # nothing listens any more: a stale socket of this user's goes
    assert not path.exists()
    path.write_text("a file")
    with pytest.raises(OSError, match="not a socket"):
        unix_socket.claim(path)


# --- 10. kill -9 mid-bake, and a restart -----------------------------------------------------------------------


def test_kill_9_mid_bake_then_a_restarted_engine_finishes_and_sweeps_the_killed_ones_temporary_files(tmp_path):
    from instyle.media import srgb_to_linear

    for number in range(120):
        cv2.imwrite(str(tmp_path / f"plate.{number:04d}.png"), np.full((24, 32, 3), number, np.uint8))
    out = tmp_path / "cache"
    pipeline = [{"stage": "mrf_blend", "write": str(out), "write_outputs": ["image"]}]
    items = [{"source": {"kind": "file", "path": str(tmp_path / "plate.####.png"), "frame": n}, "frame_number": n}
             for n in range(120)]
    first = start_engine(tmp_path)
    try:
        with first.client() as client:
            job = client.submit_job(pipeline, items, shot="bake")
            assert job.wait_event(60)["type"] == "progress"
            os.kill(first.process.pid, signal.SIGKILL)
            event = job.wait_event(30)
            while event["type"] == "progress":
                event = job.wait_event(30)
        assert event["code"] == "disconnected", event
    finally:
        first.process.wait()
    killed = first.process.pid
    left = [out / "image" / f".000118.{HOST}@{killed}.{'ab' * 8}.tmp.exr",
            out / "image" / f".000119.{killed}.77.tmp.exr"]
    for tmp in left:  # what a writer killed mid-write leaves (today's name, and the old one)
        tmp.write_bytes(b"half a frame")
    todo = [item for item in items if not (out / "image" / f"{item['frame_number']:06d}.exr").exists()]
    assert todo, "the bake ended before the engine was killed"
    second = start_engine(tmp_path)
    try:
        with second.client() as client:
            job = client.submit_job(pipeline, todo, shot="bake")
            while job.finished is None:
                job.wait_event(60)
        assert job.finished["type"] == "result", job.finished
        assert sorted(os.listdir(out / "image")) == [f"{n:06d}.exr" for n in range(120)]
        assert not [p for p in out.rglob("*") if ".tmp" in p.name], "a temporary file was left"
        for number in range(120):  # every frame whole: the plate's own grey, written linear
            frame = cv2.imread(str(out / "image" / f"{number:06d}.exr"), cv2.IMREAD_UNCHANGED)
            assert frame is not None and frame.shape[:2] == (24, 32), number
            grey = srgb_to_linear(np.full((1, 1, 3), number / 255, np.float32))[0, 0, 0]
            assert np.allclose(frame[:, :, :3], grey, atol=1e-3), number
        still_serves(second)
    finally:
        stop_engine(second)


# --- 11. memory: large shots in turn, a stalled payload, and free ----------------------------------------------

BUDGET = 1 << 30  # below what this engine needs with one such shot: it must keep no more than the shot it serves
SHOT_SIDE = (2048, 3072)  # 6.3 megapixels: a shot's state (its frame and its rendering) is about 90 MiB


def test_memory_stays_within_the_budget_over_many_large_shots_and_free_returns_it(tmp_path):
    """8 shots of 3072x2048 frames in turn through whole-frame style (each shot's state is about 90 MiB): the
    engine drops older shots' state to stay within its budget (or, where even one shot's work exceeds the
    budget, within what that one shot needs), and `free` gives the memory back. Without a budget, the engine
    grows by about 90 MiB a shot, and `free` gives back only its models."""
    engine = start_engine(tmp_path, "--memory-budget", str(BUDGET))
    try:
        rng = np.random.default_rng(0)
        small = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
        style = [{"stage": "neural_style", "params": {"resolution": 256}}]
        resident = []
        with engine.client() as client:
            for shot in range(8):
                frame = cv2.resize(np.roll(small, shot, axis=1), SHOT_SIDE[::-1], interpolation=cv2.INTER_LINEAR)
                client.request({"type": "run", "source": pixels(frame), "pipeline": style, "shot": f"shot{shot}"},
                               [frame.tobytes()], timeout=120)
                resident.append(resident_bytes(engine.process.pid))
            freed = client.free_memory()
            after_free = resident_bytes(engine.process.pid)
        one_shot = SHOT_SIDE[0] * SHOT_SIDE[1] * (3 + 12)
        ceiling = max(BUDGET, resident[0] + one_shot) + (64 << 20)
        assert max(resident) <= ceiling, [f"{r / 2**20:.0f} MiB" for r in resident]
        assert freed["released_bytes"] >= one_shot
        assert resident[-1] - after_free >= one_shot // 2
        still_serves(engine)
    finally:
        stop_engine(engine)


# --- 12. a client that never reads its replies ------------------------------------------------------------------


def test_a_client_that_never_reads_its_replies_does_not_block_the_others(engine):
    """A client sends frames whose replies (5 MiB each) it never reads: once its socket's buffers are full, the
    engine must not wait on it, and another client's frames are still computed."""
    frame = np.full((576, 768, 3), 90, np.uint8)
    request = {"type": "run", "source": pixels(frame), "pipeline": [{"stage": "mrf_blend", "return": ["image"]}]}
    deaf = engine.raw_socket()
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        for k in range(40):  # 200 MiB of replies, far beyond any socket buffer
            send_message(deaf, {**request, "id": k}, [frame.tobytes()])
        with engine.client("bystander") as bystander:
            for _ in range(3):
                reply, payloads = bystander.request(request, [frame.tobytes()], timeout=60)
                assert reply["type"] == "result" and len(payloads[0]) == frame.size * 4
    finally:
        deaf.close()
    still_serves(engine)
