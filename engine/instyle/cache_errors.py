"""What a failed write into a request's cache folder (a stage's `write`) is called, and what to do about it."""

from __future__ import annotations

import errno
from pathlib import Path

from .wire.errors import InstyleError

# errno -> (code, hint)
_READ_ONLY = ("cache_read_only", "make the cache folder writable for the engine's user, or choose a writable one")
_FULL = ("cache_full", "free space on the cache folder's disk (or raise the quota), or choose a folder on a disk "
                       "with room")
_MISSING = ("cache_missing", "the cache folder, or one above it, is gone or cannot be made (an unmounted drive?); "
                             "choose an existing place for the cache")
_NOT_FOLDER = ("cache_not_folder", "a file (or a link) stands where the cache folder or frame should be; remove or "
                                   "rename it, or choose another cache folder")
FAILURES = {errno.EACCES: _READ_ONLY, errno.EPERM: _READ_ONLY, errno.EROFS: _READ_ONLY,
            errno.ENOSPC: _FULL, errno.EDQUOT: _FULL, errno.EFBIG: _FULL,
            errno.ENOENT: _MISSING,
            errno.ENOTDIR: _NOT_FOLDER, errno.EEXIST: _NOT_FOLDER, errno.EISDIR: _NOT_FOLDER, errno.ELOOP: _NOT_FOLDER}


OTHER = ("cache_unwritable", "check the cache folder's disk and the engine's log")


class CacheError(InstyleError):
    """A failed write into a request's cache folder: code "cache_read_only", "cache_full", "cache_missing",
    "cache_not_folder" or "cache_unwritable"."""


def cache_error(exc: OSError, folder: Path, stage: str) -> CacheError:
    """The error for `exc`, raised while pipeline stage `stage` wrote under its cache folder `folder`."""
    code, hint = FAILURES.get(exc.errno, OTHER)
    where = exc.filename or folder
    return CacheError(code, f"cannot write the cache folder {folder}: {exc.strerror} ({where})", hint, stage)
