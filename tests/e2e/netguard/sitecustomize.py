"""Loaded at interpreter start (via PYTHONPATH) by the offline test.

Refuses every network connection that is not loopback or a local socket, and
logs each attempt to $NETGUARD_LOG, so the test sees even a swallowed attempt.
"""

import ipaddress
import os
import socket

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _allowed(host: object) -> bool:
    if not isinstance(host, str):
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a name other than localhost would need DNS: refuse


def _refuse(what: str) -> None:
    with open(os.environ["NETGUARD_LOG"], "a") as log:
        log.write(what + "\n")
    raise OSError(f"netguard: outbound network access blocked ({what})")


def _check(sock: socket.socket, address: object) -> None:
    inet = sock.family in (socket.AF_INET, socket.AF_INET6)
    if inet and isinstance(address, tuple) and not _allowed(address[0]):
        _refuse(f"connect {address!r}")


def connect(self: socket.socket, address: object) -> None:
    _check(self, address)
    return _real_connect(self, address)


def connect_ex(self: socket.socket, address: object) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if not _allowed(host if not isinstance(host, bytes) else host.decode()):
        _refuse(f"resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
