"""How the plug-in reaches the engine: one started from the engine Python (INSTYLE_ENGINE_PYTHON, else Engine
Settings) and kept for the rest of the GIMP session, else a running one found through its runtime file (Engine
Settings, else INSTYLE_RUNTIME_FILE or the per-user default)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from settings import Settings
from wire import Client, EngineError, connect, default_runtime_path, read_runtime
from wire.launch import start_engine

CONFIGURE = ("choose the instyle engine's Python (the python of its venv, such as /opt/instyle/.venv/bin/python) in "
             "Filters > instyle > Engine Settings or as INSTYLE_ENGINE_PYTHON in GIMP's environment, or start an "
             "engine with `instyle-engine serve`, which records itself in {runtime}")


def engine_python(settings: Settings) -> str:
    """The engine Python to start an engine with, or "" for none."""
    return os.environ.get("INSTYLE_ENGINE_PYTHON", "") or settings.engine_python


def connect_engine(settings: Settings, gimp_pid: int | None = None) -> Client:
    """A handshaken connection. With an engine Python, to the engine started for this GIMP (process `gimp_pid`,
    the plug-in's parent), starting it where none runs; otherwise to the engine recorded in the runtime file.
    Neither: EngineError "no_engine", saying how to configure one."""
    gimp_pid = os.getppid() if gimp_pid is None else gimp_pid
    python = engine_python(settings)
    if python:
        runtime_file = Path(tempfile.gettempdir()) / f"instyle-gimp-{gimp_pid}" / "engine.json"
        info = read_runtime(runtime_file)
        if info is None:
            _, info = start_engine(python, runtime_file, gimp_pid, "choose the python of the instyle engine's venv "
                                   "in Filters > instyle > Engine Settings")
    else:
        runtime = Path(settings.runtime_file) if settings.runtime_file else default_runtime_path()
        info = read_runtime(runtime)
        if info is None:
            raise EngineError("no_engine", "no instyle engine is configured, and none is running",
                              CONFIGURE.format(runtime=runtime))
    return connect(info, "gimp-instyle")
