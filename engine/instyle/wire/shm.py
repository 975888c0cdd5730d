"""Pixels through shared memory between processes on one host: only a small header crosses the socket.

The client creates a segment and names it in the request; the engine attaches, reads inputs from it and
writes returned arrays into it. The engine never maps a segment: it reads and writes through the segment's file
descriptor (pread, pwrite), so a client that shrinks its segment meanwhile (ftruncate) gets a named error,
"shm_truncated", where a mapping would have killed the engine with SIGBUS.
"""

from __future__ import annotations

import os

from _posixshmem import shm_open  # the C module behind multiprocessing.shared_memory on POSIX

from .arrays import ITEM_SIZE, check_dtype_and_shape
from .framing import ProtocolError

ALIGN = 64


class Segment:
    """A segment the other side created, open by name (see the module's notes); `size` is its size in bytes
    when attached."""

    def __init__(self, name: str, fd: int):
        self.name, self.fd = name, fd
        self.size = os.fstat(fd).st_size

    def read_into(self, offset: int, out: memoryview) -> None:
        """Fill `out` (a writable byte view) from the segment's bytes at `offset`."""
        got = 0
        while got < out.nbytes:
            n = os.preadv(self.fd, [out[got:]], offset + got)
            if n == 0:
                raise self._truncated(offset + out.nbytes)
            got += n

    def write(self, offset: int, data: memoryview) -> None:
        """Write `data` (a byte view) into the segment at `offset`; the segment must still reach that far."""
        if os.fstat(self.fd).st_size < offset + data.nbytes:
            raise self._truncated(offset + data.nbytes)
        done = 0
        while done < data.nbytes:
            done += os.pwrite(self.fd, data[done:], offset + done)

    def close(self) -> None:
        os.close(self.fd)

    def _truncated(self, needed: int) -> ProtocolError:
        return ProtocolError("shm_truncated", f"shared memory segment {self.name!r} shrank to "
                             f"{os.fstat(self.fd).st_size} bytes during the request, which needs {needed}",
                             "keep the segment at its size until the reply has arrived")


def attach(name: object) -> Segment:
    """Open an existing segment created by the other side."""
    if not isinstance(name, str) or not 0 < len(name) <= 200 or "/" in name.strip("/"):
        raise ProtocolError("bad_message", f"shared memory name {name!r} is not a plain segment name")
    try:
        fd = shm_open("/" + name.lstrip("/"), os.O_RDWR)
    except OSError as exc:
        raise ProtocolError("bad_shm", f"shared memory segment {name!r} cannot be opened: {exc}",
                            "create the segment before sending, and keep it until the reply") from None
    return Segment(name, fd)


def check_region(spec: object, segment_size: int, what: str) -> tuple[str, tuple[int, ...], int, int]:
    """(dtype, shape, offset, nbytes) of an array described as living in a segment of `segment_size` bytes."""
    dtype, shape = check_dtype_and_shape(spec, what, "shm_offset")
    offset = spec.get("shm_offset")
    nbytes = ITEM_SIZE[dtype]
    for d in shape:
        nbytes *= d
    if type(offset) is not int or offset < 0 or offset + nbytes > segment_size:
        raise ProtocolError("shm_too_small", f"{what}: {nbytes} bytes at offset {offset!r} do not fit the "
                            f"{segment_size}-byte segment", "create a larger segment")
    return dtype, shape, offset, nbytes


def aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN
