"""A free TCP port on loopback, for the servers tests start (the bot's HTTP and ops ports, PostgreSQL,
moto): the kernel picks one, which is free the moment it is handed out."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
