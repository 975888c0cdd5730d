"""The add-on's one connection to the engine: found through its runtime file, or started and owned by Blender."""

from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
import time
from pathlib import Path

from . import paths
from .wire import Client, EngineError, connect, default_runtime_path, read_runtime

START_TIMEOUT_S = 120.0

_client: Client | None = None
_process: subprocess.Popen | None = None
_log_path: Path | None = None


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
    global _process, _log_path
    runtime_file = _own_runtime_file()
    if _process is not None and _process.poll() is None:
        info = read_runtime(runtime_file)
        if info is not None:
            return info
    python = _engine_python()
    if not Path(python).is_file():
        raise EngineError("no_engine_python", f"engine Python not found: {python}",
                          "set Preferences > Add-ons > instyle > Engine Python to the engine venv's python")
    runtime_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    runtime_file.unlink(missing_ok=True)
    _log_path = runtime_file.parent / "engine.log"
    with open(_log_path, "ab") as log:
        _process = subprocess.Popen([python, "-m", "instyle.cli", "serve", "--runtime-file", str(runtime_file),
                                     "--parent-pid", str(os.getpid())], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _process.poll() is not None:
            raise EngineError("engine_failed", f"the engine exited at start-up (code {_process.returncode}): "
                              f"{_log_tail()}", f"see {_log_path}")
        info = read_runtime(runtime_file)
        if info is not None and info.pid == _process.pid:
            return info
        time.sleep(0.05)
    raise EngineError("engine_failed", f"the engine did not start within {START_TIMEOUT_S:.0f} s", f"see {_log_path}")


def _log_tail(lines: int = 5) -> str:
    try:
        return " | ".join(_log_path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
