"""Loopback ports for the servers the tests start (SMTP, the OpenID provider, PostgreSQL)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port nobody is listening on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
