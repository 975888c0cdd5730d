"""Who is at the other end of an accepted connection, as far as this machine can tell: the user of a Unix socket
peer or of a loopback TCP peer, else the peer's address. The server limits unfinished handshakes per peer, so that
one local user cannot lock another out (on loopback every user's address is 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import socket
import struct

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})  # the names of this machine's loopback address
UCRED = struct.Struct("3i")  # pid, uid, gid (Linux SO_PEERCRED)
PROC_TCP = {socket.AF_INET: "/proc/net/tcp", socket.AF_INET6: "/proc/net/tcp6"}


def peer_key(conn: socket.socket) -> str:
    """"uid N" for a local peer whose user this machine reports (Linux), else "address A"."""
    if conn.family == socket.AF_UNIX:
        try:
            return f"uid {UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, UCRED.size))[1]}"
        except (OSError, AttributeError):
            return "address unix"
    peer, local = conn.getpeername(), conn.getsockname()
    if ipaddress.ip_address(peer[0]).is_loopback:
        uid = tcp_owner(conn.family, peer[:2], local[:2])
        if uid is not None:
            return f"uid {uid}"
    return f"address {peer[0]}"


def tcp_owner(family: int, peer: tuple[str, int], local: tuple[str, int]) -> int | None:
    """The user id owning the TCP socket bound to `peer` and connected to `local` (both (host, port)) on this
    machine, from the kernel's socket table; None where it cannot be told."""
    wanted = (_proc_address(family, *peer), _proc_address(family, *local))
    try:
        with open(PROC_TCP[family]) as table:
            next(table)
            for line in table:
                fields = line.split()
                if (fields[1], fields[2]) == wanted:
                    return int(fields[7])
    except (OSError, KeyError, IndexError, ValueError, StopIteration):
        return None
    return None


def _proc_address(family: int, host: str, port: int) -> str:
    """`host:port` as /proc/net/tcp{,6} prints it: the address's 32-bit words in host byte order, then the port,
    in upper-case hex."""
    packed = socket.inet_pton(family, host)
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{w:08X}" for w in words) + f":{port:04X}"
