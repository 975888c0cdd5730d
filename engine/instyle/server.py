"""The engine's socket server: loopback TCP or a Unix socket, token handshake, one thread per client."""

from __future__ import annotations

import collections
import hmac
import os
import socket
import threading
import time
from pathlib import Path

from .failures import failure_reply
from .peers import peer_key
from .scheduler import Scheduler
from .service import Service
from .wire import PROTOCOL_VERSION, InstyleError, Limits, ProtocolError, recv_message, send_message
from .wire.requests import (CancelRequest, CorrectionsRequest, EchoRequest, FreeRequest, JobRequest, PingRequest,
                            RunRequest, parse_request)

HELLO = frozenset({"hello"})
HELLO_LIMITS = Limits(max_header_bytes=16 << 10, max_payloads=0, max_payload_bytes=0, max_message_bytes=16 << 10)
MAX_HANDSHAKES_PER_PEER = 8  # unfinished handshakes one user (or remote address) may hold at once
MAX_UNREAD_BYTES = 256 << 20  # replies a client may leave unread before it is disconnected
HEADER_ALLOWANCE = 4096  # bytes a reply's header is counted as
FLUSH_S = 5.0  # how long a closing connection may take to send its last replies


class ClientConnection:
    """A client's socket. Replies and events from any thread go into its outbox, which a thread of its own sends,
    whole and in order: a client that reads slowly, or never, holds up only its own replies, never the worker that
    computes everyone's frames. A client that leaves more than MAX_UNREAD_BYTES of replies unread is disconnected."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.cond = threading.Condition()
        self.outbox: collections.deque[tuple[dict, tuple, int]] = collections.deque()
        self.unread = 0
        self.closed = False
        threading.Thread(target=self._write, name="instyle-send", daemon=True).start()

    def send(self, header: dict, payloads=()) -> None:
        size = HEADER_ALLOWANCE + sum(memoryview(p).nbytes for p in payloads)
        with self.cond:
            if self.closed:
                return
            if self.unread + size > MAX_UNREAD_BYTES:
                self.closed = True  # the writer stops, and the connection's reader sees its socket shut
                self._shutdown()
                return
            self.outbox.append((header, tuple(payloads), size))
            self.unread += size
            self.cond.notify_all()

    def close(self) -> None:
        """Send what the outbox holds (for at most FLUSH_S seconds), then close the socket."""
        with self.cond:
            self.cond.wait_for(lambda: not self.outbox or self.closed, timeout=FLUSH_S)
            self.closed = True
            self.cond.notify_all()
        self._shutdown()
        try:
            self.sock.close()
        except OSError:
            pass

    def _write(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.outbox or self.closed)
                if self.closed:
                    return
                header, payloads, size = self.outbox[0]
            try:
                send_message(self.sock, header, payloads)
            except OSError:
                with self.cond:
                    self.closed = True
                    self.cond.notify_all()
                return
            with self.cond:
                self.outbox.popleft()
                self.unread -= size
                self.cond.notify_all()

    def _shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Handshake:
    """A connection whose hello is awaited, from `peer` (`peers.peer_key`); `evict` ends the wait."""

    def __init__(self, conn: socket.socket, peer: str):
        self.conn, self.peer, self.evicted = conn, peer, False

    def evict(self) -> None:
        self.evicted = True
        try:
            self.conn.shutdown(socket.SHUT_RD)  # the waiting read sees the end of the stream
        except OSError:
            pass


class EngineServer:
    """Serves `service` to clients that present `token`.

    A connection has `hello_timeout` seconds for its whole handshake. A peer (see `peers`) has at most
    MAX_HANDSHAKES_PER_PEER unfinished handshakes: a newer connection closes its oldest, so that a peer trickling
    bytes holds a bounded number of threads and never stops another peer, or its own next client, from getting in.
    Only clients that presented the token take one of the `max_clients` places. Once in, each message must arrive
    within `message_timeout` seconds of its first byte. Bake jobs go to `bakes` when given (a
    `cluster.ClusterBakes`), else to the local worker (see `Scheduler`)."""

    def __init__(self, service: Service, token: str, host: str = "127.0.0.1", port: int = 0,
                 unix_path: str | None = None, limits: Limits = Limits(), hello_timeout: float = 10.0,
                 max_clients: int = 32, message_timeout: float = 120.0, bakes=None):
        self.service, self.token, self.limits = service, token, limits
        self.hello_timeout, self.max_clients, self.message_timeout = hello_timeout, max_clients, message_timeout
        self.clients = threading.BoundedSemaphore(max_clients)
        self.handshakes: dict[str, collections.deque[Handshake]] = {}
        self.handshakes_lock = threading.Lock()
        if unix_path:  # bind fails on an existing path: see `unix_socket.claim` for making way
            path = Path(unix_path)
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)
            try:
                self.sock.bind(str(path))
            finally:
                os.umask(old)
            self.unix_path, self.host, self.port = str(path), "", 0
        else:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = socket.socket(family, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.unix_path, self.host, self.port = "", host, self.sock.getsockname()[1]
        self.sock.listen(16)
        self._stopping = threading.Event()
        self.scheduler = Scheduler(service.execute, lambda client, header, payloads=(): client.send(header, payloads),
                                   bakes)

    @property
    def address(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"

    def serve_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            try:
                handshake = Handshake(conn, peer_key(conn))
            except OSError:  # gone already
                conn.close()
                continue
            with self.handshakes_lock:
                pending = self.handshakes.setdefault(handshake.peer, collections.deque())
                if len(pending) >= MAX_HANDSHAKES_PER_PEER:
                    pending.popleft().evict()
                pending.append(handshake)
            threading.Thread(target=self._client, args=(handshake,), daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self.scheduler.stop()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.unix_path:
            Path(self.unix_path).unlink(missing_ok=True)

    def _client(self, handshake: Handshake) -> None:
        conn = handshake.conn
        try:
            welcome = self._handshake(handshake)
        finally:
            with self.handshakes_lock:
                pending = self.handshakes[handshake.peer]
                if handshake in pending:
                    pending.remove(handshake)
                if not pending:
                    del self.handshakes[handshake.peer]
        if welcome is None:
            conn.close()
            return
        if not self.clients.acquire(blocking=False):
            self._try_send(conn, InstyleError(
                "busy", f"the engine already serves {self.max_clients} clients",
                "close idle Blender sessions, or restart the engine with a larger --max-clients").reply())
            conn.close()
            return
        client = ClientConnection(conn)
        try:
            if self._try_send(conn, welcome):
                self._serve(client)
        finally:
            self.scheduler.drop_client(client)
            client.close()
            self.clients.release()

    def _handshake(self, handshake: Handshake) -> dict | None:
        """The welcome for a client that sent a valid hello within `hello_timeout`; None (the client told why)
        for any other."""
        conn = handshake.conn
        conn.settimeout(self.hello_timeout)  # for the replies; the hello's own deadline is recv_message's
        try:
            header, _ = recv_message(conn, HELLO_LIMITS, deadline=time.monotonic() + self.hello_timeout)
            hello = parse_request(header, HELLO)
        except ConnectionError:
            if handshake.evicted:
                self._try_send(conn, InstyleError(
                    "busy", f"{handshake.peer} opened more than {MAX_HANDSHAKES_PER_PEER} connections that have not "
                    "finished their handshake; this one, the oldest, is closed",
                    "send hello as soon as the connection is made, and close connections you do not use").reply())
            return None
        except InstyleError as exc:
            if exc.code == "too_slow":
                self._try_send(conn, InstyleError(
                    "handshake_timeout", f"the hello message did not arrive within {self.hello_timeout:g} s",
                    "connect with an instyle client, which sends hello at once").reply())
            else:
                self._try_send(conn, InstyleError("bad_handshake", f"expected a hello message: {exc}",
                                                  "connect with an instyle client").reply())
            return None
        except OSError:
            return None
        if not hmac.compare_digest(hello.token.encode(), self.token.encode()):
            self._try_send(conn, InstyleError("unauthorized", "wrong or missing engine token",
                                              "read the token from the engine's runtime file").reply())
            return None
        if hello.protocol != PROTOCOL_VERSION:
            self._try_send(conn, InstyleError(
                "protocol_version", f"client speaks protocol {hello.protocol}, engine {PROTOCOL_VERSION}",
                "install matching versions of the add-on and the engine").reply())
            return None
        conn.settimeout(None)
        return self.service.describe()

    def _serve(self, client: "ClientConnection") -> None:
        """Read requests until the client leaves; frames are computed by the scheduler's worker."""
        while True:
            try:
                header, payloads = recv_message(client.sock, self.limits, message_timeout=self.message_timeout)
            except ProtocolError as exc:
                client.send(ProtocolError(exc.code, exc.message, "the connection is closed; reconnect").reply())
                return
            except (ConnectionError, OSError):
                return
            request_id = header.get("id") if type(header.get("id")) is int else None
            try:
                request = parse_request(header)
                if isinstance(request, (RunRequest, CorrectionsRequest)):
                    self.scheduler.submit_run(client, request, payloads)
                elif isinstance(request, JobRequest):
                    self.scheduler.submit_job(client, request)
                    client.send({"type": "accepted", "id": request.id})
                elif isinstance(request, CancelRequest):
                    if not self.scheduler.cancel(client, request.job):
                        raise InstyleError("unknown_job", f"this connection has no job {request.job} to cancel",
                                           "a client can cancel only its own queued or running requests")
                    client.send({"type": "accepted", "id": request.id})
                elif isinstance(request, FreeRequest):
                    client.send({"type": "freed", "id": request.id, **self.service.free_memory()})
                elif isinstance(request, PingRequest):
                    client.send({"type": "pong", "id": request.id})
                elif isinstance(request, EchoRequest):
                    client.send(*self.service.echo(request, payloads))
            except Exception as exc:  # every failure becomes an error reply; the engine keeps serving
                client.send(failure_reply(exc, request_id))
            if client.closed:
                return

    @staticmethod
    def _try_send(conn: socket.socket, header: dict, payloads=()) -> bool:
        try:
            send_message(conn, header, payloads)
            return True
        except OSError:
            return False
