"""Making way for the engine's Unix socket (`instyle-engine serve --unix PATH`) without taking another's."""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path


def claim(path: Path) -> None:
    """Make way for a Unix socket at `path`: a stale socket of this user's is removed; a socket another program
    still serves, one of another user's, or a file that is no socket raise OSError (EADDRINUSE or EPERM)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise OSError(errno.EADDRINUSE, f"{path} exists and is not a socket")
    if info.st_uid != os.geteuid():
        raise OSError(errno.EPERM, f"the socket {path} belongs to another user")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)  # nothing listens: left by a process that is gone
        return
    except OSError:
        pass  # it answers, slowly: in use
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, f"another program serves the socket {path}")
