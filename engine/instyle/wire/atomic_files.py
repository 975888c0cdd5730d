"""Files replaced in one step, safe in folders other users can write (a farm's shared cache, a custom runtime
folder): the content goes to a new temporary file beside the destination, created with
O_CREAT|O_EXCL|O_NOFOLLOW under a name no one can predict, then renamed over the destination. A symlink or file
planted at a temporary name is never followed or overwritten, and readers see the old file or the new one whole.

Temporary names are `.<stem>.<host>@<pid>.<random>.tmp<suffix>` (for `000012.exr` written by process 4711 on
`node7`: `.000012.node7@4711.9f3c….tmp.exr`): hidden, and naming the machine and process that write them, so that
`sweep_temporary` can remove those a killed writer left without touching what a writer on another machine sharing
the folder (a farm's or a Ray cluster's cache) is still writing.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import time
from pathlib import Path
from typing import Callable

TEMPORARY = re.compile(r"\.(?P<stem>.+?)\.(?:(?P<host>[A-Za-z0-9_-]*)@)?(?P<pid>\d+)\.[^.]+\.tmp(\.\w+)?")
"""A temporary name; one without a host (written before hosts were named) counts as this machine's."""
HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"
"""This machine's name as temporary names hold it."""
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def temporary_name(path: Path) -> Path:
    """A fresh temporary name beside `path` (see the module's docstring)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{HOST}@{os.getpid()}.{secrets.token_hex(8)}.tmp{path.suffix}")


def write_atomic(path: Path, data, mode: int = 0o666) -> None:
    """Make `path` hold `data` (bytes-like), created with permission bits `mode` (less the umask)."""
    path = Path(path)
    tmp = temporary_name(path)
    fd = os.open(tmp, CREATE_FLAGS, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def link_atomic(src: Path, dst: Path) -> None:
    """Make `dst` hold the file `src` holds: a hard link to it (a copy where the file system has none) made at a
    temporary name and renamed over `dst`."""
    tmp = temporary_name(dst)
    try:
        os.link(src, tmp)
    except OSError:
        fd = os.open(tmp, CREATE_FLAGS, 0o666)
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
                while chunk := f.read(1 << 20):
                    out.write(chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    try:
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sweep_temporary(folder: Path, process_alive: Callable[[int], bool], min_age_s: float = 60.0) -> int:
    """Delete the temporary files in `folder` written on this machine by a process that is gone
    (`process_alive(pid)` false), or older than `min_age_s` whoever wrote them (a writer on another machine sharing the
    folder, which may still be writing a younger one); returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        match = TEMPORARY.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            here = match["host"] in (None, HOST)
            if time.time() - entry.stat(follow_symlinks=False).st_mtime > min_age_s \
                    or (here and not process_alive(int(match["pid"]))):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
    return removed
