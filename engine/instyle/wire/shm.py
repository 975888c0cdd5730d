"""Pixels through shared memory between processes on one host: only a small header crosses the socket.

The client creates a segment and names it in the request; the engine attaches, reads inputs from it and
writes returned arrays into it. The attaching side unregisters the segment from Python's resource tracker,
or the segment would be unlinked when that process exits (Python 3.11 behaviour).
"""

from __future__ import annotations

from multiprocessing import resource_tracker, shared_memory

from .arrays import ITEM_SIZE, MAX_DIM
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
    if not isinstance(spec, dict):
        raise ProtocolError(f"{what} must be an object with dtype, shape and shm_offset")
    dtype, shape, offset = spec.get("dtype"), spec.get("shape"), spec.get("shm_offset")
    if not isinstance(dtype, str) or dtype not in ITEM_SIZE:
        raise ProtocolError(f"{what}: dtype {dtype!r} is not one of {sorted(ITEM_SIZE)}")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 4
            or not all(type(d) is int and 0 < d <= MAX_DIM for d in shape)):
        raise ProtocolError(f"{what}: shape must be 1 to 4 positive integers of at most {MAX_DIM}")
    nbytes = ITEM_SIZE[dtype]
    for d in shape:
        nbytes *= d
    if type(offset) is not int or offset < 0 or offset + nbytes > segment_size:
        raise ProtocolError(f"{what}: {nbytes} bytes at offset {offset!r} do not fit the {segment_size}-byte segment")
    return dtype, tuple(shape), offset, nbytes


def aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN
