"""Starting an engine that a host application owns (Blender, GIMP): `instyle.cli serve` run by the engine Python
the user configured, recording itself in a runtime file of its own, and exiting when the host exits."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .client import EngineError
from .runtime import RuntimeInfo, read_runtime

START_TIMEOUT_S = 120.0


def start_engine(python: str, runtime_file: Path, parent_pid: int, hint: str,
                 timeout: float = START_TIMEOUT_S) -> tuple[subprocess.Popen, RuntimeInfo]:
    """Start the engine with `python` (the engine venv's interpreter), writing `runtime_file` and its log
    (engine.log beside it) and exiting with process `parent_pid`; returns the process and its runtime record
    once it listens. A missing `python` is error "no_engine_python" with `hint` (where the host sets it); an
    engine that exits or does not start within `timeout` seconds is "engine_failed", naming its log."""
    if not python or not Path(python).is_file():
        raise EngineError("no_engine_python", f"engine Python not found: {python or '(none set)'}", hint)
    runtime_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    runtime_file.unlink(missing_ok=True)
    log_path = runtime_file.parent / "engine.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen([python, "-m", "instyle.cli", "serve", "--runtime-file", str(runtime_file),
                                    "--parent-pid", str(parent_pid)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EngineError("engine_failed", f"the engine exited at start-up (code {process.returncode}): "
                              f"{_log_tail(log_path)}", f"see {log_path}")
        info = read_runtime(runtime_file)
        if info is not None and info.pid == process.pid:
            return process, info
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise EngineError("engine_failed", f"the engine did not start within {timeout:.0f} s", f"see {log_path}")


def _log_tail(log_path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log_path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
