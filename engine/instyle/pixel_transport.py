"""Pixels between a client and the engine: a request's source pixels, read from a payload or from the request's
shared memory segment, and the arrays its reply returns, as payloads or written into that segment."""

from __future__ import annotations

import contextlib

import numpy as np

from .wire import InstyleError, check_array_spec
from .wire.requests import PixelsSource, Shm, Source
from .wire.shm import aligned, attach, check_region


def source_pixels(source: PixelsSource, payloads: list, segment) -> np.ndarray:
    """A copy of the pixels a `pixels` source names: in a payload, or in the request's shared memory `segment`."""
    if source.shm_offset is not None:
        dtype, shape, offset, _ = check_region(source.array, segment.size, "source.array")
        data = np.empty(shape, dtype)
        segment.read_into(offset, memoryview(data).cast("B"))
        return data
    spec = check_array_spec(source.array, [memoryview(p).nbytes for p in payloads], "source.array")
    return np.frombuffer(payloads[spec.payload], dtype=spec.dtype).reshape(spec.shape)


def source_frame(source: PixelsSource, payloads: list, segment) -> np.ndarray:
    """The pixels of `source` as a frame: uint8 HxWx3 RGB (alpha dropped, float clamped to [0, 1] and rounded)."""
    data = source_pixels(source, payloads, segment)[:, :, :3]
    if data.dtype == np.float32:
        if not np.isfinite(data).all():
            raise InstyleError("bad_pixels", "source pixels contain NaN or infinity",
                               "clamp or fix the image before sending it")
        data = np.round(np.clip(data, 0, 1) * 255).astype(np.uint8)
    return np.ascontiguousarray(data)


class Outputs:
    """Arrays going back to the client: as payloads, or written into the request's shared memory `segment` (see
    `start` for where)."""

    def __init__(self, segment, shm: Shm | None, source: Source):
        self.segment, self.specs, self.payloads = segment, {}, []
        self.offset = self.start(shm, source, segment) if segment is not None else 0

    @staticmethod
    def start(shm: Shm, source: Source, segment) -> int:
        """Where returned arrays begin: `shm.return_offset`, else just after a source held in the segment."""
        if shm.return_offset is not None:
            return aligned(shm.return_offset)
        if isinstance(source, PixelsSource) and source.shm_offset is not None:
            _, _, offset, nbytes = check_region(source.array, segment.size, "source.array")
            return aligned(offset + nbytes)
        return 0

    def add(self, name: str, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        spec = {"dtype": array.dtype.name, "shape": list(array.shape)}
        if self.segment is None:
            spec["payload"] = len(self.payloads)
            self.payloads.append(memoryview(array).cast("B"))
        else:
            if self.offset + array.nbytes > self.segment.size:
                raise InstyleError("shm_too_small", f"the shared memory segment ({self.segment.size} bytes) cannot "
                                   f"hold the returned {name} ({array.nbytes} bytes from offset {self.offset})",
                                   "create a larger segment")
            self.segment.write(self.offset, memoryview(array).cast("B"))
            spec["shm_offset"] = self.offset
            self.offset = aligned(self.offset + array.nbytes)
        self.specs[name] = spec


@contextlib.contextmanager
def attached(shm: Shm | None):
    """The request's shared memory segment (attached for the request's duration), or None."""
    if shm is None:
        yield None
        return
    segment = attach(shm.name)
    try:
        yield segment
    finally:
        segment.close()
