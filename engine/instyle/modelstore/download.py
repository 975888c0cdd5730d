"""Downloading model files over HTTP(S): resumable (a `.part` file and HTTP Range), retried with backoff,
checked against the manifest's sha256, with a progress bar on stderr.

When the host cannot be reached at all, the error says which URL to download by hand and exactly where
to put the file, so machines without internet can still be set up.
"""

from __future__ import annotations

import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TextIO

from .. import __version__
from .store import WeightsError, sha256_of

CHUNK = 1 << 16


class _Retry(Exception):
    """A failure worth another attempt (the connection broke, the server had a temporary problem)."""


class _Unreachable(_Retry):
    """No connection could be made at all."""


def download(url: str, dest: Path, sha256: str, size: int | None = None, *, label: str = "",
             attempts: int = 3, backoff_s: float = 1.0, timeout_s: float = 30.0,
             progress: TextIO | None = sys.stderr) -> None:
    """Make `dest` hold the bytes at `url` whose sha256 is `sha256` (and size `size`, when known).

    Bytes arrive in `dest`'s sibling `<name>.part`, which a later call resumes with an HTTP Range request;
    `dest` only ever appears complete and verified (atomic rename). A broken connection, a timeout or an
    HTTP 5xx is retried, resuming, after `backoff_s`, then twice that, and so on; it gives up after
    `attempts` failures in a row that brought no new bytes. A `.part` whose completed bytes fail the
    checksum is deleted and downloaded again from the start.
    Raises WeightsError: "offline" (host unreachable), "download_failed" (HTTP error, or retries used up)
    or "model_corrupt" (the bytes never matched), each with a hint naming `url` and `dest`.
    """
    label = label or dest.name
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    while True:
        had = part.stat().st_size if part.is_file() else 0
        try:
            _transfer(url, part, size, timeout_s, _Progress(label, progress))
        except _Retry as exc:
            code = "offline" if isinstance(exc, _Unreachable) else "download_failed"
            problem = f"{url} is unreachable ({exc})" if code == "offline" else str(exc)
            grew = part.is_file() and part.stat().st_size > had
            failures = 0 if grew else failures + 1
        else:
            actual = sha256_of(part)
            if actual == sha256 and (size is None or part.stat().st_size == size):
                os.replace(part, dest)
                return
            code, problem = "model_corrupt", (
                f"the downloaded bytes ({part.stat().st_size} bytes, sha256 {actual}) do not match the manifest "
                f"({size if size is not None else 'unknown'} bytes, sha256 {sha256})")
            part.unlink()
            failures += 1
        if failures >= attempts:
            raise WeightsError(code, f"cannot download {label} ({failures} failed attempts): {problem}",
                               _by_hand(url, dest, sha256))
        time.sleep(backoff_s * 2 ** max(failures - 1, 0))


def _by_hand(url: str, dest: Path, sha256: str) -> str:
    return (f"on a machine with internet, download\n    {url}\n  and put it at\n    {dest}\n"
            f"  (sha256 {sha256}); then run `instyle-engine weights verify`")


def _transfer(url: str, part: Path, size: int | None, timeout_s: float, bar: _Progress) -> None:
    """Append the missing bytes to `part` (or restart it when the server ignores the Range asked for)."""
    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is not None and have == size:
        return
    headers = {"User-Agent": f"instyle-engine/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is longer than the file: start over
            part.unlink()
            raise _Retry(f"HTTP 416 for bytes {have}- (a stale partial file, removed)") from None
        if exc.code >= 500 or exc.code == 429:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise WeightsError("download_failed", f"{url} answered HTTP {exc.code} {exc.reason}",
                           "the address may have moved; check the manifest's url") from None
    except urllib.error.URLError as exc:  # no connection: refused, unknown host, connect timeout
        raise _Unreachable(str(exc.reason)) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise _Retry(f"no answer ({type(exc).__name__}: {exc})") from None
    with response:
        resumed = have and response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            part.unlink()
            raise _Retry(f"the server resumed at {response.headers.get('Content-Range')}, not at byte {have}")
        start = have if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else size
        bar.start(start, total)
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.advance(len(chunk))
        except (http.client.IncompleteRead, TimeoutError, ConnectionError) as exc:
            raise _Retry(f"connection lost after {part.stat().st_size} bytes ({type(exc).__name__})") from None
        finally:
            bar.finish()
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Retry(f"connection closed after {got} of {total} bytes")


class _Progress:
    """`label [#########...........] 45% 12.3/27.0 MB 3.1 MB/s` redrawn in place on a terminal; on anything
    else (a log file) one line as each quarter begins, so logs stay short."""

    def __init__(self, label: str, out: TextIO | None):
        self.label, self.out = label, out
        self.tty = bool(out) and out.isatty()
        self.width = 0

    def start(self, done: int, total: int | None) -> None:
        self.done, self.total, self.first = done, total, done
        self.t0 = self.shown_at = time.monotonic()
        self.quarter = -1
        self._show(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self._show(force=False)

    def finish(self) -> None:
        self._show(force=True)
        if self.out and self.tty:
            self.out.write("\n")
            self.out.flush()

    def _show(self, force: bool) -> None:
        if not self.out:
            return
        now = time.monotonic()
        fraction = self.done / self.total if self.total else None
        if self.tty:
            if not force and now - self.shown_at < 0.2:
                return
        else:
            quarter = int(fraction * 4) if fraction is not None else 0
            if quarter == self.quarter:
                return
            self.quarter = quarter
        self.shown_at = now
        rate = (self.done - self.first) / max(now - self.t0, 1e-6) / 1e6
        if fraction is None:
            text = f"{self.label} {self.done / 1e6:.1f} MB {rate:.1f} MB/s"
        else:
            bar = "#" * int(fraction * 20)
            text = (f"{self.label} [{bar:.<20}] {fraction:4.0%} {self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB "
                    f"{rate:.1f} MB/s")
        self.width = max(self.width, len(text))
        self.out.write(f"\r{text:<{self.width}}" if self.tty else f"{text}\n")
        self.out.flush()
