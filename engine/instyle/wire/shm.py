"""Pixels through shared memory between processes on one host: only a small header crosses the socket.

The client creates a segment and names it in the request; the engine attaches, reads inputs from it and
writes returned arrays into it. The attaching side unregisters the segment from Python's resource tracker,
or the segment would be unlinked when that process exits (Python 3.11 behaviour).
"""

from __future__ import annotations

from multiprocessing import resource_tracker, shared_memory

from .arrays import ITEM_SIZE, check_dtype_and_shape
from .framing import ProtocolError

ALIGN = 64


def attach(name: object) -> shared_memory.SharedMemory:
    """Open an existing segment created by the other side."""
    if not isinstance(name, str) or not 0 < len(name) <= 200 or "/" in name.strip("/"):
        raise ProtocolError(f"shared memory name {name!r} is not a plain segment name")
    try:
        segment = shared_memory.SharedMemory(name=name, create=False)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise ProtocolError(f"shared memory segment {name!r} cannot be opened: {exc}", "bad_shm") from None
    try:
        resource_tracker.unregister(segment._name, "shared_memory")  # noqa: SLF001 (documented workaround)
    except Exception:
        pass
    return segment


def check_region(spec: object, segment_size: int, what: str) -> tuple[str, tuple[int, ...], int, int]:
    """(dtype, shape, offset, nbytes) of an array described as living in a segment of `segment_size` bytes."""
    dtype, shape = check_dtype_and_shape(spec, what, "shm_offset")
    offset = spec.get("shm_offset")
    nbytes = ITEM_SIZE[dtype]
    for d in shape:
        nbytes *= d
    if type(offset) is not int or offset < 0 or offset + nbytes > segment_size:
        raise ProtocolError(f"{what}: {nbytes} bytes at offset {offset!r} do not fit the {segment_size}-byte segment")
    return dtype, shape, offset, nbytes


def aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN
