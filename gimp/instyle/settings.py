"""The plug-in's engine settings (Filters > instyle > Engine Settings), kept in instyle.json in GIMP's profile
folder: the engine Python to start an engine with, or the runtime file of a running engine."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from wire import InstyleError
from wire.atomic_files import write_atomic

FILE_NAME = "instyle.json"


@dataclass(frozen=True)
class Settings:
    """`engine_python`: the engine venv's python, started for the GIMP session; `runtime_file`: where a running
    engine records itself. Empty: not set."""

    engine_python: str = ""
    runtime_file: str = ""


def load(folder: Path) -> Settings:
    """The settings saved in `folder` (GIMP's profile folder); defaults where there are none. A file that is not
    such settings is error "bad_settings", naming it."""
    path = Path(folder) / FILE_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        raise _bad(path, exc) from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise _bad(path, "not an object of strings")
    try:
        return Settings(**data)
    except TypeError as exc:
        raise _bad(path, exc) from None


def save(folder: Path, settings: Settings) -> Path:
    """Write `settings` into `folder` atomically; returns the file."""
    path = Path(folder) / FILE_NAME
    write_atomic(path, json.dumps(asdict(settings), indent=1).encode())
    return path


def _bad(path: Path, why: object) -> InstyleError:
    return InstyleError("bad_settings", f"the instyle settings file {path} is unreadable: {why}",
                        "set them again in Filters > instyle > Engine Settings, or delete the file")
