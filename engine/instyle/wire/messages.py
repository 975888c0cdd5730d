"""Message types, and the fields each of the engine's must carry (a client's requests are typed in `requests`).

Client to engine: ``hello`` (first, with the token), ``run`` (one frame through a pipeline, served before
any bake), ``job`` (a bake: many frames, answered with ``accepted``, ``progress`` events and a ``result``),
``cancel`` (one of the client's own jobs), ``corrections`` (which of the Instance Tracker's corrections reach
each of a list of frames, see ``corrections``), ``free`` (unload models to release memory), ``echo`` (pixels
straight back, to check and measure transport), ``ping``. Pixels travel as payloads, or, on one host, in
a shared memory segment the request names (``shm``).
Engine to client: ``welcome`` (the handshake), ``result``, ``accepted``, ``progress``, ``cancelled``,
``freed``, ``pong``, ``error``. Every reply and event carries the ``id`` of the request it answers, so one
connection can have many requests in flight.
"""

from __future__ import annotations

from .framing import ProtocolError

PROTOCOL_VERSION = 2  # 2: the corrections request

_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "accepted": {"id": int},
    "progress": {"id": int, "done": int, "total": int},
    "cancelled": {"id": int},
    "freed": {"id": int},
    "welcome": {"protocol": int, "engine_version": str, "device": str, "stages": dict},
    "result": {"id": int},
    "pong": {"id": int},
    "error": {"code": str, "message": str},
}

ENGINE_TYPES = frozenset({"welcome", "result", "pong", "error", "accepted", "progress", "cancelled", "freed"})


def check_header(header: dict, allowed: frozenset[str] = ENGINE_TYPES) -> str:
    """Check a decoded header from the engine: its type and required fields; returns the type."""
    kind = header.get("type")
    if not isinstance(kind, str) or kind not in allowed:
        raise ProtocolError("unknown_type", f"message type {kind!r:.100} is not one of {sorted(allowed)}")
    for name, expected in _FIELDS[kind].items():
        value = header.get(name)
        if not isinstance(value, expected) or isinstance(value, bool) and expected is int:
            raise ProtocolError("bad_message", f"{kind!r} message needs field {name!r} of type "
                                f"{getattr(expected, '__name__', expected)}, got {type(value).__name__}")
    return kind

