"""The per-user runtime file through which clients find a running engine and its token."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .atomic_files import write_atomic


@dataclass(frozen=True)
class RuntimeInfo:
    """Where a running engine listens (TCP host/port or a Unix socket path) and its per-run token."""

    pid: int
    token: str
    host: str = ""
    port: int = 0
    unix_path: str = ""
    engine_version: str = ""
    protocol: int = 0

    @property
    def address(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"


def default_runtime_path() -> Path:
    """`$INSTYLE_RUNTIME_FILE`, else `engine.json` in `$INSTYLE_RUNTIME_DIR`, `$XDG_RUNTIME_DIR/instyle`
    or `~/.cache/instyle/run`."""
    if os.environ.get("INSTYLE_RUNTIME_FILE"):
        return Path(os.environ["INSTYLE_RUNTIME_FILE"])
    if os.environ.get("INSTYLE_RUNTIME_DIR"):
        folder = Path(os.environ["INSTYLE_RUNTIME_DIR"])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "instyle"
    else:
        folder = Path.home() / ".cache" / "instyle" / "run"
    return folder / "engine.json"


def write_runtime(path: Path, info: RuntimeInfo) -> None:
    """Write atomically with mode 0600 (`atomic_files`), in a folder made with mode 0700 where there is none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(asdict(info)).encode(), 0o600)


def read_runtime(path: Path) -> RuntimeInfo | None:
    """The engine recorded at `path`, or None when there is none or its process is gone."""
    try:
        data = json.loads(Path(path).read_text())
        info = RuntimeInfo(**data)
    except (OSError, ValueError, TypeError):
        return None
    return info if process_alive(info.pid) else None


def remove_runtime(path: Path, pid: int) -> None:
    """Remove the runtime file if it still belongs to process `pid`."""
    try:
        if json.loads(Path(path).read_text()).get("pid") == pid:
            Path(path).unlink()
    except (OSError, ValueError):
        pass


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
