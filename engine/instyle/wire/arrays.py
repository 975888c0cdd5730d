"""Descriptions of pixel arrays carried as payloads, checked without allocating them."""

from __future__ import annotations

from dataclasses import dataclass

from .framing import ProtocolError

ITEM_SIZE = {"uint8": 1, "uint16": 2, "float16": 2, "float32": 4, "int32": 4}
MAX_DIM = 16384


@dataclass(frozen=True)
class ArraySpec:
    """A C-contiguous array of `dtype` and `shape` stored in payload number `payload`."""

    dtype: str
    shape: tuple[int, ...]
    payload: int

    @property
    def nbytes(self) -> int:
        n = ITEM_SIZE[self.dtype]
        for d in self.shape:
            n *= d
        return n

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "shape": list(self.shape), "payload": self.payload}


def describe_array(array, payload: int) -> ArraySpec:
    """Spec for a numpy-like array (anything with `.dtype.name` and `.shape`)."""
    return ArraySpec(array.dtype.name, tuple(int(d) for d in array.shape), payload)


def check_dtype_and_shape(spec: object, what: str, place: str) -> tuple[str, tuple[int, ...]]:
    """The `dtype` and `shape` of a JSON array description, validated; `place` names its location field."""
    if not isinstance(spec, dict):
        raise ProtocolError("bad_message", f"{what} must be an object with dtype, shape and {place}")
    dtype, shape = spec.get("dtype"), spec.get("shape")
    if not isinstance(dtype, str) or dtype not in ITEM_SIZE:
        raise ProtocolError("bad_message", f"{what}: dtype {dtype!r} is not one of {sorted(ITEM_SIZE)}")
    if (not isinstance(shape, list) or not 1 <= len(shape) <= 4
            or not all(type(d) is int and 0 < d <= MAX_DIM for d in shape)):
        raise ProtocolError("bad_message",
                            f"{what}: shape must be 1 to 4 positive integers of at most {MAX_DIM}, got {shape!r}")
    return dtype, tuple(shape)


def check_array_spec(spec: object, payload_sizes: list[int], what: str = "array") -> ArraySpec:
    """Validate a JSON array description against the payloads that arrived with it."""
    dtype, shape = check_dtype_and_shape(spec, what, "payload")
    index = spec.get("payload")
    if type(index) is not int or not 0 <= index < len(payload_sizes):
        raise ProtocolError("bad_message", f"{what}: payload index {index!r} does not name one of the "
                            f"{len(payload_sizes)} payloads")
    result = ArraySpec(dtype, shape, index)
    if result.nbytes != payload_sizes[index]:
        raise ProtocolError("bad_message", f"{what}: {dtype}{list(shape)} needs {result.nbytes} bytes, payload has "
                            f"{payload_sizes[index]}")
    return result
