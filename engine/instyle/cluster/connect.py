"""Joining a Ray cluster from the engine: Ray imported only when asked for, an address checked before Ray is
given it (Ray itself waits a long time for a head that is not there), and a cluster on this machine kept on
loopback."""

from __future__ import annotations

import logging
import os
import secrets
import socket

from ..peers import LOOPBACK
from ..wire import InstyleError

INSTALL_HINT = "install the cluster extra into the engine's environment: pip install instyle[cluster]"
ADDRESS_HINT = "give the head's address as HOST:PORT (what `ray start --head` printed), ray://HOST:PORT, or auto"
REACH_TIMEOUT_S = 3.0
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to 0 before Ray is imported, Ray takes 127.0.0.1 as this node's address and binds every port to it
instead of this machine's network address (docs/cluster.md)."""
AUTH_MODE, AUTH_TOKEN = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN"
"""Ray's token authentication: a cluster started here gets a token of this engine's own (passed to its processes
in their environment, none written to ~/.ray); to join a head started with a token, set both as on the head."""


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a cluster address `HOST:PORT` or `ray://HOST:PORT`; None for `auto` (a cluster of this
    machine's own, started here). InstyleError "bad_cluster_address" for anything else."""
    if address == "auto":
        return None
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InstyleError("bad_cluster_address", f"--cluster {address!r} is not HOST:PORT, ray://HOST:PORT or auto",
                           ADDRESS_HINT)
    return host.strip("[]"), int(port)


def import_ray():
    """The `ray` module; InstyleError "cluster_unavailable" (with the fix) when Ray is not installed."""
    try:
        import ray
    except ImportError:
        raise InstyleError("cluster_unavailable", "--cluster needs Ray, which is not installed in the engine's "
                           "Python", INSTALL_HINT) from None
    return ray


def join(address: str, namespace: str, cpus: int = 0):
    """Connect this process to the cluster at `address` (see `parse_address`; `auto` starts one on this machine
    with `cpus` CPUs, 0: all) in Ray namespace `namespace`; the `ray` module, connected. A cluster on this
    machine (auto, or a loopback address) is used on loopback only. InstyleError "cluster_unreachable" when
    nothing answers at the address."""
    where = parse_address(address)
    if where is None or where[0] in LOOPBACK:
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    if where is None:
        os.environ.setdefault(AUTH_MODE, "token")
        os.environ.setdefault(AUTH_TOKEN, secrets.token_hex(32))
    ray = import_ray()
    options = {"namespace": namespace, "logging_level": logging.WARNING, "log_to_driver": False}
    if where is None:
        ray.init(address="local", include_dashboard=False, num_cpus=cpus or None, **options)
        return ray
    try:
        socket.create_connection(where, timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise InstyleError("cluster_unreachable", f"no Ray cluster answers at {address} ({exc.strerror or exc})",
                           f"start the head there (`ray start --head`), check the address and the network, "
                           f"or leave out --cluster; {ADDRESS_HINT}") from None
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InstyleError("cluster_unreachable", f"could not join the Ray cluster at {address}: {exc}",
                           f"check that the head runs the same Ray version as the engine (`ray --version`) and, for a "
                           f"head with token authentication, set {AUTH_MODE}=token and {AUTH_TOKEN} as there "
                           "(docs/cluster.md)") from None
    return ray
