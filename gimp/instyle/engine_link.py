"""How the plug-in reaches the engine: one started from the configured engine Python (INSTYLE_ENGINE_PYTHON) and
kept for the rest of the GIMP session, else a running one found through its runtime file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from wire import Client, EngineError, connect, default_runtime_path, read_runtime
from wire.launch import start_engine

CONFIGURE = ("set INSTYLE_ENGINE_PYTHON to the instyle engine's Python (the python of its venv, such as "
             "/opt/instyle/.venv/bin/python) in GIMP's environment and restart GIMP, or start an engine with "
             "`instyle-engine serve`, which records itself in {runtime}")


def connect_engine(gimp_pid: int | None = None) -> Client:
    """A handshaken connection. With INSTYLE_ENGINE_PYTHON set, to the engine started for this GIMP (process
    `gimp_pid`, the plug-in's parent), starting it where none runs; otherwise to the engine recorded in the
    runtime file (INSTYLE_RUNTIME_FILE, or the per-user default). Neither: EngineError "no_engine", saying how
    to configure one."""
    gimp_pid = os.getppid() if gimp_pid is None else gimp_pid
    python = os.environ.get("INSTYLE_ENGINE_PYTHON", "")
    if python:
        runtime_file = Path(tempfile.gettempdir()) / f"instyle-gimp-{gimp_pid}" / "engine.json"
        info = read_runtime(runtime_file)
        if info is None:
            _, info = start_engine(python, runtime_file, gimp_pid,
                                   "set INSTYLE_ENGINE_PYTHON to the python of the instyle engine's venv")
    else:
        runtime = default_runtime_path()
        info = read_runtime(runtime)
        if info is None:
            raise EngineError("no_engine", "no instyle engine is configured, and none is running",
                              CONFIGURE.format(runtime=runtime))
    return connect(info, "gimp-instyle")
