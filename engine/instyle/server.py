"""The engine's socket server: loopback TCP or a Unix socket, token handshake, one thread per client."""

from __future__ import annotations

import hmac
import os
import socket
import stat
import threading
from pathlib import Path

from .scheduler import Scheduler
from .service import RequestError, Service, describe_failure
from .wire import (CLIENT_TYPES, PROTOCOL_VERSION, Limits, ProtocolError, check_header, error_message,
                   recv_message, send_message)

HELLO_LIMITS = Limits(max_header_bytes=16 << 10, max_payloads=0, max_payload_bytes=0, max_message_bytes=16 << 10)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class ClientConnection:
    """A client's socket; replies and events from any thread are sent whole, one at a time."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.lock = threading.Lock()
        self.closed = False

    def send(self, header: dict, payloads=()) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                send_message(self.sock, header, payloads)
            except OSError:
                self.closed = True

    def close(self) -> None:
        with self.lock:
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


class EngineServer:
    """Serves `service` to clients that present `token`."""

    def __init__(self, service: Service, token: str, host: str = "127.0.0.1", port: int = 0,
                 unix_path: str | None = None, limits: Limits = Limits(), hello_timeout: float = 10.0,
                 max_clients: int = 32):
        self.service, self.token, self.limits = service, token, limits
        self.scheduler = Scheduler(service.execute, lambda client, header, payloads=(): client.send(header, payloads),
                                   describe_failure)
        self.hello_timeout, self.max_clients = hello_timeout, max_clients
        self.clients = threading.BoundedSemaphore(max_clients)
        if unix_path:
            path = Path(unix_path)
            if path.exists() and stat.S_ISSOCK(path.stat().st_mode):
                path.unlink()
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

    @property
    def address(self) -> str:
        return f"unix:{self.unix_path}" if self.unix_path else f"{self.host}:{self.port}"

    def serve_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            if not self.clients.acquire(blocking=False):
                self._refuse(conn)
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

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

    def _refuse(self, conn: socket.socket) -> None:
        try:
            send_message(conn, error_message("busy", f"the engine already serves {self.max_clients} clients",
                                             "close idle Blender sessions or raise --max-clients"))
        except OSError:
            pass
        conn.close()

    def _client(self, conn: socket.socket) -> None:
        client = ClientConnection(conn)
        try:
            if self._handshake(conn):
                self._serve(client)
        finally:
            self.scheduler.drop_client(client)
            client.close()
            self.clients.release()

    def _handshake(self, conn: socket.socket) -> bool:
        conn.settimeout(self.hello_timeout)
        try:
            header, _ = recv_message(conn, HELLO_LIMITS)
            check_header(header, frozenset({"hello"}))
        except (OSError, ConnectionError, ProtocolError) as exc:
            self._try_send(conn, error_message("bad_handshake", f"expected a hello message: {exc}",
                                               "connect with an instyle client"))
            return False
        if not hmac.compare_digest(header["token"].encode(), self.token.encode()):
            self._try_send(conn, error_message("unauthorized", "wrong or missing engine token",
                                               "read the token from the engine's runtime file"))
            return False
        if header["protocol"] != PROTOCOL_VERSION:
            self._try_send(conn, error_message(
                "protocol_version", f"client speaks protocol {header['protocol']}, engine {PROTOCOL_VERSION}",
                "install matching versions of the add-on and the engine"))
            return False
        conn.settimeout(None)
        return self._try_send(conn, self.service.describe())

    def _serve(self, client: "ClientConnection") -> None:
        """Read requests until the client leaves; frames are computed by the scheduler's worker."""
        while True:
            try:
                header, payloads = recv_message(client.sock, self.limits)
            except ProtocolError as exc:
                client.send(error_message(exc.code, str(exc), "the connection is closed; reconnect"))
                return
            except (ConnectionError, OSError):
                return
            request_id = header.get("id") if type(header.get("id")) is int else None
            try:
                kind = check_header(header, CLIENT_TYPES)
                if kind in ("run", "corrections"):
                    self.service.validate(header)
                    self.scheduler.submit_run(client, header, payloads)
                elif kind == "job":
                    self.service.validate(header)
                    self.scheduler.submit_job(client, header)
                    client.send({"type": "accepted", "id": request_id})
                elif kind == "cancel":
                    if not self.scheduler.cancel(client, header["job"]):
                        raise RequestError("unknown_job", f"this connection has no job {header['job']} to cancel",
                                           "a client can cancel only its own queued or running requests")
                    client.send({"type": "accepted", "id": request_id})
                elif kind == "free":
                    freed = self.service.free_memory()
                    client.send({"type": "freed", "id": request_id, **freed})
                elif kind == "ping":
                    client.send({"type": "pong", "id": request_id})
                elif kind == "echo":
                    client.send(*self.service.echo(header, payloads))
                else:
                    raise RequestError("bad_request", "hello was already accepted on this connection")
            except Exception as exc:  # every failure becomes an error reply; the engine keeps serving
                client.send(error_message(**describe_failure(exc), request_id=request_id))
            if client.closed:
                return

    @staticmethod
    def _try_send(conn: socket.socket, header: dict, payloads=()) -> bool:
        try:
            send_message(conn, header, payloads)
            return True
        except OSError:
            return False
