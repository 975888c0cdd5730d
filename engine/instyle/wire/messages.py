"""Message types and the fields each must carry.

Client to engine: ``hello`` (first, with the token), ``run`` (a frame through a pipeline), ``ping``.
Engine to client: ``welcome`` (the handshake), ``result``, ``pong``, ``error``.
"""

from __future__ import annotations

from .framing import ProtocolError

PROTOCOL_VERSION = 1

_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "hello": {"protocol": int, "token": str},
    "run": {"id": int, "source": dict, "pipeline": list},
    "ping": {"id": int},
    "welcome": {"protocol": int, "engine_version": str, "device": str, "stages": dict},
    "result": {"id": int},
    "pong": {"id": int},
    "error": {"code": str, "message": str},
}

CLIENT_TYPES = frozenset({"hello", "run", "ping"})
ENGINE_TYPES = frozenset({"welcome", "result", "pong", "error"})


def check_header(header: dict, allowed: frozenset[str]) -> str:
    """Check a decoded header's type and required fields; returns the type."""
    kind = header.get("type")
    if kind not in allowed:
        raise ProtocolError(f"message type {kind!r} is not one of {sorted(allowed)}", "unknown_type")
    for name, expected in _FIELDS[kind].items():
        value = header.get(name)
        if not isinstance(value, expected) or isinstance(value, bool) and expected is int:
            raise ProtocolError(f"{kind!r} message needs field {name!r} of type "
                                f"{getattr(expected, '__name__', expected)}, got {type(value).__name__}")
    return kind


def error_message(code: str, message: str, hint: str = "", request_id: int | None = None) -> dict:
    """An error reply: what went wrong (`message`) and what to do about it (`hint`)."""
    header = {"type": "error", "code": code, "message": message, "hint": hint}
    if request_id is not None:
        header["id"] = request_id
    return header
