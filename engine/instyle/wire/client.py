"""A client connection to the engine: handshake, then any number of requests in flight, matched by id.

A reader thread receives every message and hands it to the request it answers; nothing here touches the
caller's application state, so it is safe inside Blender (results are collected by the caller's thread).
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading

from .errors import InstyleError
from .framing import DEFAULT_LIMITS, ProtocolError, recv_message, send_message
from .messages import ENGINE_TYPES, PROTOCOL_VERSION, check_header
from .runtime import RuntimeInfo

FINAL = frozenset({"result", "error", "cancelled", "pong", "accepted", "freed"})


class EngineError(InstyleError):
    """An error reported by the engine (or about reaching it), raised where the client waits for it; its text
    carries the hint."""

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def _disconnected(detail: object) -> EngineError:
    return EngineError("disconnected", f"lost the connection to the engine: {detail}",
                       "the engine may have stopped; start it again or check its log")


class Job:
    """A bake running in the engine: `events()` yields its progress events, the last one final."""

    def __init__(self, client: "Client", request_id: int, inbox: queue.Queue):
        self.client, self.id, self._inbox = client, request_id, inbox
        self.finished: dict | None = None

    def poll(self) -> list[dict]:
        """Events that have arrived, without waiting."""
        out = []
        while self.finished is None:
            try:
                out.append(self._take(block=False))
            except queue.Empty:
                break
        return out

    def wait_event(self, timeout: float | None = None) -> dict:
        """The next event (raises queue.Empty after `timeout`)."""
        return self._take(block=True, timeout=timeout)

    def events(self, timeout: float | None = None):
        while self.finished is None:
            yield self.wait_event(timeout)

    def cancel(self, timeout: float = 10.0) -> None:
        self.client.cancel(self.id, timeout)

    def _take(self, block: bool, timeout: float | None = None) -> dict:
        header, _ = self._inbox.get(block=block, timeout=timeout)
        if isinstance(header, EngineError):
            self.finished = header.reply()
            self.client._forget(self.id)
            return self.finished
        if header["type"] not in ("progress", "accepted"):
            self.finished = header
            self.client._forget(self.id)
        return header


class Client:
    """One persistent connection; `welcome` holds the engine's handshake."""

    def __init__(self, sock: socket.socket, welcome: dict):
        self.sock = sock
        self.welcome = welcome
        self._ids = itertools.count(1)
        self._inboxes: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._broken: EngineError | None = None
        sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name="instyle-client", daemon=True)
        self._reader.start()

    @property
    def stages(self) -> dict:
        return self.welcome["stages"]

    @property
    def alive(self) -> bool:
        return self._broken is None

    def request(self, header: dict, payloads=(), timeout: float | None = None,
                sent=lambda request_id: None) -> tuple[dict, list[bytearray]]:
        """Send a request (an `id` is assigned, and given to `sent` once it is on its way: `cancel` takes it) and
        wait for its reply; engine errors raise EngineError."""
        request_id, inbox = self._send(header, payloads)
        sent(request_id)
        try:
            reply, data = inbox.get(timeout=timeout)
        except queue.Empty:
            raise EngineError("timeout", f"the engine did not answer within {timeout} s",
                              "it may be busy with a long bake; try again or raise the timeout") from None
        finally:
            self._forget(request_id)
        if isinstance(reply, EngineError):
            raise reply
        if reply["type"] == "error":
            raise EngineError.from_reply(reply)
        if reply["type"] == "cancelled" and header.get("type") == "run":
            raise EngineError("cancelled", "the request was cancelled")
        return reply, data

    def run(self, source: dict, pipeline: list[dict], timeout: float | None = None, **extra) -> tuple[dict, list]:
        """Run one frame of `source` through `pipeline`; served before any queued bake frames."""
        return self.request({"type": "run", "source": source, "pipeline": pipeline, **extra}, timeout=timeout)

    def cancel(self, request_id: int, timeout: float = 10.0) -> None:
        """Cancel this connection's run or job `request_id`; its own request then ends with code "cancelled"."""
        self.request({"type": "cancel", "job": request_id}, timeout=timeout)

    def submit_job(self, pipeline: list[dict], items: list[dict], timeout: float = 30.0, **extra) -> Job:
        """Queue a bake of `items` (each {"source", "frame_number"}); returns once the engine accepted it."""
        request_id, inbox = self._send({"type": "job", "pipeline": pipeline, "items": items, **extra}, ())
        job = Job(self, request_id, inbox)
        first = job.wait_event(timeout)
        if first["type"] == "error":
            raise EngineError.from_reply(first)
        return job

    def corrections(self, pipeline: list[dict], items: list[dict], timeout: float | None = None,
                    **extra) -> list[str]:
        """For each of `items` (each {"source", "frame_number"}), the digest of the Instance Tracker's corrections
        that reach that frame (see `corrections`); served before any queued bake frames."""
        reply, _ = self.request({"type": "corrections", "pipeline": pipeline, "items": items, **extra},
                                timeout=timeout)
        return reply["applied"]

    def ping(self, timeout: float = 5.0) -> dict:
        return self.request({"type": "ping"}, timeout=timeout)[0]

    def free_memory(self, timeout: float = 60.0) -> dict:
        """Ask the engine to unload its models (before a GPU-hungry render, say)."""
        return self.request({"type": "free"}, timeout=timeout)[0]

    def close(self) -> None:
        self._broken = self._broken or _disconnected("closed by this client")
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, header: dict, payloads) -> tuple[int, queue.Queue]:
        if self._broken is not None:
            raise self._broken
        request_id = next(self._ids)
        inbox: queue.Queue = queue.Queue()
        with self._lock:
            self._inboxes[request_id] = inbox
        try:
            with self._send_lock:
                send_message(self.sock, dict(header, id=request_id), payloads)
        except OSError as exc:
            self._forget(request_id)
            raise _disconnected(exc) from None
        return request_id, inbox

    def _forget(self, request_id: int) -> None:
        with self._lock:
            self._inboxes.pop(request_id, None)

    def _read(self) -> None:
        while True:
            try:
                header, payloads = recv_message(self.sock, DEFAULT_LIMITS)
                check_header(header, ENGINE_TYPES)
            except (OSError, ConnectionError, ProtocolError) as exc:
                self._fail(self._broken or _disconnected(exc))
                return
            with self._lock:
                inbox = self._inboxes.get(header.get("id"))
            if inbox is not None:
                inbox.put((header, payloads))
            elif header["type"] == "error" and "id" not in header:
                self._fail(EngineError.from_reply(header))
                return

    def _fail(self, error: EngineError) -> None:
        self._broken = error
        with self._lock:
            inboxes = list(self._inboxes.values())
        for inbox in inboxes:
            inbox.put((error, []))


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
        raise EngineError.from_reply(reply)
    if reply["type"] != "welcome":
        sock.close()
        raise EngineError("handshake", f"engine answered the handshake with {reply['type']!r}")
    return Client(sock, reply)
