"""Loopback ports for servers a test starts but cannot tell to bind port 0 (Airflow's
api-server and log servers) and for addresses where nobody may listen.

A port found by binding port 0 and closing the socket is free only until someone else is
handed it. A `HeldPort` stays bound (not listening) for as long as the test holds it: the
kernel hands it to nobody else, connections to it are refused, and a server that binds it
with SO_REUSEADDR (uvicorn, gunicorn: Airflow's servers) still can, and then listens on it.
"""

from __future__ import annotations

import socket


class HeldPort:
    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        self._socket.close()

    def __enter__(self) -> HeldPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
