"""The add-on's one connection to the engine: found through its runtime file, or started and owned by Blender."""

from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
from pathlib import Path

from . import paths
from .wire import Client, EngineError, connect, default_runtime_path, read_runtime
from .wire.launch import start_engine

_client: Client | None = None
_process: subprocess.Popen | None = None


def client() -> Client:
    """A live, handshaken connection, starting the engine first when the preferences say so."""
    global _client
    if _client is not None:
        try:
            if _client.alive:
                _client.ping()
                return _client
        except EngineError:
            pass
        disconnect()
    info = read_runtime(_runtime_file()) if not _starts_engine() else _ensure_started()
    if info is None:
        raise EngineError("not_running", f"no instyle engine is running (none recorded in {_runtime_file()})",
                          "start one with `instyle-engine serve`, or set the engine Python in the add-on preferences")
    _client = connect(info, "blender-instyle")
    return _client


def restart() -> Client:
    """Drop the connection, end an engine this Blender started (it has died or stopped answering) and
    connect to a fresh one."""
    global _process
    disconnect()
    if _process is not None:
        if _process.poll() is None:
            _process.kill()
        _process.wait()
        _process = None
    return client()


def disconnect() -> None:
    global _client
    if _client is not None:
        _client.close()
        _client = None


def connected() -> Client | None:
    """The current connection if there is a live one; never starts or connects to an engine."""
    return _client if _client is not None and _client.alive else None


def engine_pid() -> int | None:
    """Process id of the engine this Blender started, if it is running."""
    return _process.pid if _process is not None and _process.poll() is None else None


def shutdown() -> None:
    """Close the connection and stop the engine this Blender started."""
    global _process
    disconnect()
    if _process is not None and _process.poll() is None:
        _process.terminate()
        try:
            _process.wait(10)
        except subprocess.TimeoutExpired:
            _process.kill()
    _process = None


atexit.register(shutdown)


def _engine_python() -> str:
    prefs = paths.preferences()
    return (prefs.engine_python if prefs else "") or os.environ.get("INSTYLE_ENGINE_PYTHON", "")


def _starts_engine() -> bool:
    prefs = paths.preferences()
    mode = prefs.engine_mode if prefs else "AUTO"
    return mode == "AUTO" and bool(_engine_python())


def _runtime_file() -> Path:
    prefs = paths.preferences()
    if prefs and prefs.engine_mode == "CONNECT" and prefs.runtime_file:
        return Path(prefs.runtime_file)
    return default_runtime_path()


def _own_runtime_file() -> Path:
    return Path(tempfile.gettempdir()) / f"instyle-blender-{os.getpid()}" / "engine.json"


def _ensure_started():
    global _process
    runtime_file = _own_runtime_file()
    if _process is not None and _process.poll() is None:
        info = read_runtime(runtime_file)
        if info is not None:
            return info
    _process, info = start_engine(_engine_python(), runtime_file, os.getpid(),
                                  "set Preferences > Add-ons > instyle > Engine Python to the engine venv's python")
    return info
