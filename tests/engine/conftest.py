"""Fixtures for engine tests: a real `instyle-engine serve` process on a private runtime file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from instyle.wire import PROTOCOL_VERSION, connect, read_runtime, recv_message, send_message


class EngineProcess:
    """A running engine; `log` holds what it printed before its ready line."""

    def __init__(self, runtime_file: Path, process: subprocess.Popen, ready_line: str, log: str = ""):
        self.runtime_file, self.process, self.ready_line, self.log = runtime_file, process, ready_line, log

    @property
    def info(self):
        return read_runtime(self.runtime_file)

    def client(self, name: str = "test"):
        return connect(self.info, name)

    def raw_socket(self) -> socket.socket:
        """A connection past the handshake, for messages made by hand."""
        info = self.info
        sock = socket.create_connection((info.host, info.port), timeout=30)
        send_message(sock, {"type": "hello", "protocol": PROTOCOL_VERSION, "token": info.token})
        assert recv_message(sock)[0]["type"] == "welcome"
        return sock


def start_engine(tmp: Path, *extra: str) -> EngineProcess:
    runtime_file = tmp / "run" / "engine.json"
    process = subprocess.Popen([sys.executable, "-m", "instyle.cli", "serve", "--runtime-file", str(runtime_file),
                                "--device", "cpu", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + 120
    log, line = "", process.stdout.readline()
    while "ready on" not in line:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"engine did not start: {log}{line}{process.stdout.read()}")
        log, line = log + line, process.stdout.readline()
    return EngineProcess(runtime_file, process, line.strip(), log)


def stop_engine(engine: EngineProcess) -> None:
    engine.process.terminate()
    try:
        engine.process.wait(20)
    except subprocess.TimeoutExpired:
        engine.process.kill()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = start_engine(tmp_path_factory.mktemp("engine"))
    yield engine
    stop_engine(engine)
