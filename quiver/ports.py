"""A port that is already taken, said in one line: which port, what it is for, and the flag that
moves it, instead of a bind traceback or a supervisor waiting for a role that already died."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from quiver.errors import ErrorCode, QuiverError


class PortInUse(QuiverError):
    def __init__(self, port: int, host: str, what: str, flag: str) -> None:
        super().__init__(
            ErrorCode.UNAVAILABLE,
            f"port {port} ({what}) is already in use on {host}; stop what uses it or pass {flag}",
        )


@contextmanager
def naming_a_taken_port(port: int, host: str, what: str, flag: str) -> Iterator[None]:
    """Turns the bind inside the block failing on a taken port into PortInUse (runtime.run
    prints its one line and exits 1); any other failure passes through as it is."""
    try:
        yield
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(port, host, what, flag) from None
        raise


def check_free(port: int, host: str, what: str, flag: str) -> None:
    """Raises PortInUse when a server could not bind host:port now, binding it as servers do
    (SO_REUSEADDR: a port left in TIME_WAIT counts as free). For binds that report a taken port
    no better than a log line of their own (gRPC's), and to fail before starting anything."""
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror:
        return  # the server's own bind names an unknown host
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:  # EADDRNOTAVAIL and the like: the server's own bind names them
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(port, host, what, flag) from None
