"""Message framing: a fixed prefix, payload lengths, a JSON header, then binary payloads.

Layout (network byte order)::

    magic b"ISTY" | version u8 | flags u8 | reserved u16 | header_len u32 | payload_count u32
    payload_len u64 * payload_count
    header: UTF-8 JSON object, header_len bytes
    payloads, back to back

Every length is checked against `Limits` before anything is read, buffers grow as bytes arrive (a length
declared but never sent costs nothing), and nothing but JSON is ever decoded (no pickle).
"""

from __future__ import annotations

import json
import select
import struct
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from .errors import InstyleError

MAGIC = b"ISTY"
FRAMING_VERSION = 1
PREFIX = struct.Struct("!4sBBHII")
LENGTH = struct.Struct("!Q")
FIRST_CHUNK = 1 << 20  # bytes a buffer starts at; it doubles as more arrive

Buffer = bytes | bytearray | memoryview


class ProtocolError(InstyleError):
    """A message that breaks the framing or the message schema (`code` "bad_message", "too_large", ...)."""

    HINT = "fix the client; the message breaks the instyle protocol"


@dataclass(frozen=True)
class Limits:
    """Upper bounds a receiver enforces before allocating anything."""

    max_header_bytes: int = 1 << 20
    max_payloads: int = 16
    max_payload_bytes: int = 1 << 30
    max_message_bytes: int = 3 << 30


DEFAULT_LIMITS = Limits()


def encode_message(header: dict, payloads: Sequence[Buffer] = ()) -> list[Buffer]:
    """Frame a message; returns the pieces to send in order (payloads are not copied)."""
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    lengths = b"".join(LENGTH.pack(memoryview(p).nbytes) for p in payloads)
    prefix = PREFIX.pack(MAGIC, FRAMING_VERSION, 0, 0, len(head), len(payloads))
    return [prefix + lengths + head, *payloads]


def send_message(sock, header: dict, payloads: Sequence[Buffer] = ()) -> None:
    """Frame and send one message on a connected stream socket."""
    for piece in encode_message(header, payloads):
        sock.sendall(piece)


def recv_message(sock, limits: Limits = DEFAULT_LIMITS, deadline: float | None = None,
                 message_timeout: float | None = None) -> tuple[dict, list[bytearray]]:
    """Receive one message; raises ConnectionError on a closed peer, ProtocolError on bad framing.

    `deadline` (a `time.monotonic()` value) bounds the whole message, `message_timeout` (seconds) the time from
    its first byte on: past either, ProtocolError "too_slow". With neither, the socket's own timeout applies."""
    receiver = _Receiver(sock, deadline, message_timeout)
    return _parse(receiver.read_exact, limits)


class _Receiver:
    """Reads from a socket against the deadlines of `recv_message`, waiting with poll (the socket's timeout, which
    other threads' sends share, is left alone)."""

    def __init__(self, sock, deadline: float | None, message_timeout: float | None):
        self.sock, self.deadline, self.message_timeout = sock, deadline, message_timeout
        self.started = False
        self.poller = None
        if deadline is not None or message_timeout is not None:
            self.poller = select.poll()
            self.poller.register(sock, select.POLLIN)

    def read_exact(self, n: int) -> bytearray:
        buf = bytearray(min(n, FIRST_CHUNK))
        got = 0
        while got < n:
            if got == len(buf):
                buf.extend(bytes(min(n, 2 * len(buf)) - len(buf)))
            with memoryview(buf) as view:
                k = self._recv_into(view[got:])
            if k == 0:
                raise ConnectionError("peer closed the connection" if got == 0 and n else "connection closed mid-message")
            got += k
        return buf

    def _recv_into(self, view: memoryview) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0 or not self.poller.poll(left * 1000):
                raise ProtocolError("too_slow", "the message did not arrive in time: its bytes came too slowly")
        k = self.sock.recv_into(view)
        if not self.started and k and self.message_timeout is not None:
            self.started = True
            end = time.monotonic() + self.message_timeout
            self.deadline = end if self.deadline is None else min(self.deadline, end)
        return k


def decode_message(data: Buffer, limits: Limits = DEFAULT_LIMITS) -> tuple[dict, list[bytearray]]:
    """Decode one complete message held in memory; trailing bytes are an error."""
    view = memoryview(data)
    pos = 0

    def read_exact(n: int) -> bytearray:
        nonlocal pos
        if pos + n > len(view):
            raise ProtocolError("truncated", "message is truncated")
        chunk = bytearray(view[pos:pos + n])
        pos += n
        return chunk

    message = _parse(read_exact, limits)
    if pos != len(view):
        raise ProtocolError("bad_message", f"{len(view) - pos} unexpected bytes after the message")
    return message


def _parse(read_exact: Callable[[int], bytearray], limits: Limits) -> tuple[dict, list[bytearray]]:
    magic, version, _flags, _reserved, header_len, count = PREFIX.unpack(read_exact(PREFIX.size))
    if magic != MAGIC:
        raise ProtocolError("bad_message", "not an instyle message (bad magic bytes); is this client speaking the instyle "
                            "protocol?")
    if version != FRAMING_VERSION:
        raise ProtocolError("protocol_version",
                            f"framing version {version} is not supported (this side speaks {FRAMING_VERSION})")
    if header_len > limits.max_header_bytes:
        raise ProtocolError("too_large", f"header of {header_len} bytes exceeds the limit of {limits.max_header_bytes}")
    if count > limits.max_payloads:
        raise ProtocolError("too_large", f"{count} payloads exceed the limit of {limits.max_payloads}")
    lengths = [LENGTH.unpack(read_exact(LENGTH.size))[0] for _ in range(count)]
    for n in lengths:
        if n > limits.max_payload_bytes:
            raise ProtocolError("too_large", f"payload of {n} bytes exceeds the limit of {limits.max_payload_bytes}")
    if header_len + sum(lengths) > limits.max_message_bytes:
        raise ProtocolError("too_large", f"message exceeds the limit of {limits.max_message_bytes} bytes")
    header = _decode_header(read_exact(header_len))
    return header, [read_exact(n) for n in lengths]


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _decode_header(raw: bytearray) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("bad_message", f"header is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_message", "header must be a JSON object")
    return header
