"""A blocking client connection to the engine: handshake, then requests answered in order."""

from __future__ import annotations

import itertools
import socket

from .framing import DEFAULT_LIMITS, ProtocolError, recv_message, send_message
from .messages import ENGINE_TYPES, PROTOCOL_VERSION, check_header
from .runtime import RuntimeInfo


class EngineError(Exception):
    """An error reported by the engine (or about reaching it): `code`, `message` and a `hint` to act on."""

    def __init__(self, code: str, message: str, hint: str = ""):
        super().__init__(f"{message} ({hint})" if hint else message)
        self.code, self.message, self.hint = code, message, hint


class Client:
    """One persistent connection; `welcome` holds the engine's handshake."""

    def __init__(self, sock: socket.socket, welcome: dict):
        self.sock = sock
        self.welcome = welcome
        self._ids = itertools.count(1)

    @property
    def stages(self) -> dict:
        return self.welcome["stages"]

    def request(self, header: dict, payloads=(), timeout: float | None = None) -> tuple[dict, list[bytearray]]:
        """Send a request (an `id` is assigned) and wait for its reply; engine errors raise EngineError."""
        header = dict(header, id=next(self._ids))
        self.sock.settimeout(timeout)
        try:
            send_message(self.sock, header, payloads)
            reply, data = recv_message(self.sock, DEFAULT_LIMITS)
        except (OSError, ConnectionError) as exc:
            raise EngineError("disconnected", f"lost the connection to the engine: {exc}",
                              "the engine may have stopped; start it again or check its log") from None
        check_header(reply, ENGINE_TYPES)
        if reply["type"] == "error":
            raise EngineError(reply["code"], reply["message"], reply.get("hint", ""))
        if reply.get("id") != header["id"]:
            raise ProtocolError(f"reply to request {reply.get('id')} arrived while waiting for {header['id']}")
        return reply, data

    def run(self, source: dict, pipeline: list[dict], timeout: float | None = None, **extra) -> tuple[dict, list[bytearray]]:
        """Run one frame of `source` through `pipeline` (see the engine's `run` handler)."""
        return self.request({"type": "run", "source": source, "pipeline": pipeline, **extra}, timeout=timeout)

    def ping(self, timeout: float = 5.0) -> dict:
        return self.request({"type": "ping"}, timeout=timeout)[0]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(info: RuntimeInfo, client_name: str = "instyle-client", timeout: float = 10.0) -> Client:
    """Connect to the engine described by `info`, present its token and return the handshaken client."""
    try:
        if info.unix_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(info.unix_path)
        else:
            sock = socket.create_connection((info.host, info.port), timeout=timeout)
    except OSError as exc:
        raise EngineError("unreachable", f"cannot reach the instyle engine at {info.address}: {exc}",
                          "start it with `instyle-engine serve`, or set the engine in the add-on preferences") from None
    try:
        send_message(sock, {"type": "hello", "protocol": PROTOCOL_VERSION, "token": info.token, "client": client_name})
        reply, _ = recv_message(sock)
        check_header(reply, ENGINE_TYPES)
    except (OSError, ConnectionError, ProtocolError) as exc:
        sock.close()
        raise EngineError("handshake", f"handshake with the engine at {info.address} failed: {exc}",
                          "the address may belong to another program; restart the engine") from None
    if reply["type"] == "error":
        sock.close()
        raise EngineError(reply["code"], reply["message"], reply.get("hint", ""))
    if reply["type"] != "welcome":
        sock.close()
        raise EngineError("handshake", f"engine answered the handshake with {reply['type']!r}")
    return Client(sock, reply)
