"""A small Artifactory-like repository on loopback: PUT, HEAD, GET, DELETE, with its answers.

Like Artifactory, it answers HEAD and GET with the file's X-Checksum-Sha256, checks the
checksums a PUT declares, and overwrites a file only when the credentials may (Artifactory's
delete/overwrite permission; `allow_overwrite`). A PUT whose body does not arrive whole
stores nothing. `redirect_to` answers every request with a 307 to another base URL.
`answers[path]` answers a GET of `path` in its own way (a server that drips, floods or
never ends: see `drip` and `endless`).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path


class Repository:
    def __init__(self, token: str | None, *, allow_overwrite: bool = True) -> None:
        self.token = token
        self.allow_overwrite = allow_overwrite
        self.files: dict[str, bytes] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.fail_next: list[int] = []  # status codes to answer the next PUTs with
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []
        self.redirect_to: str | None = None
        self.redirect_status = 307
        self.answers: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]] = {}
        repository = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _start(self) -> bool:
                """Record the request; False when it was answered already (redirect, auth)."""
                repository.requests.append((self.command, self.path))
                repository.authorizations.append(self.headers.get("Authorization"))
                if repository.redirect_to is not None:
                    self.send_response(repository.redirect_status)
                    self.send_header("Location", repository.redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return False
                if repository.token is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {repository.token}":
                    return True
                self._answer(401)
                return False

            def _answer(self, status: int, body: bytes = b"", **headers: str) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def _file(self) -> None:
                data = repository.files.get(self.path)
                if data is None:
                    self._answer(404)
                else:
                    digest = hashlib.sha256(data).hexdigest()
                    self._answer(200, data, X_Checksum_Sha256=digest)

            def do_HEAD(self) -> None:
                if self._start():
                    self._file()

            def do_GET(self) -> None:
                if self._start():
                    answer = repository.answers.get(self.path)
                    if answer is None:
                        self._file()
                        return
                    # The client may give up: what these answers are for.
                    with suppress(BrokenPipeError, ConnectionResetError):
                        answer(self)

            def do_DELETE(self) -> None:
                if self._start():
                    found = repository.files.pop(self.path, None)
                    self._answer(204 if found is not None else 404)

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if not self._start():
                    return
                if repository.fail_next:
                    self._answer(repository.fail_next.pop(0))
                    return
                if len(body) != length:
                    self._answer(400, b"incomplete body")
                    return
                if self.path in repository.files and not repository.allow_overwrite:
                    self._answer(403, b"overwrite needs the delete permission")
                    return
                if self.headers.get("X-Checksum-Sha256") != hashlib.sha256(body).hexdigest():
                    self._answer(409, b"checksum mismatch")
                    return
                if self.headers.get("X-Checksum-Sha1") != hashlib.sha1(body).hexdigest():
                    self._answer(409, b"checksum mismatch")
                    return
                repository.files[self.path] = body
                repository.headers[self.path] = dict(self.headers)
                self._answer(201, b'{"created": true}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/artifactory/dags-local"

    def bundle_settings(self, storage: Path, distribution: str, keep: int) -> dict[str, str]:
        """The environment of an Airflow whose DAG bundle `pipelines` reads this repository
        (refreshing every 2 s), kept in `storage`; the reader's token is this repository's."""
        config = [{
            "name": "pipelines",
            "classpath": "processing_core.airflow.bundle.ArtifactRepositoryDagBundle",
            "kwargs": {"url": self.url, "distributions": [distribution], "keep": keep,
                       "refresh_interval": 2},
        }]  # fmt: skip
        return {
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(config),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(storage),
            "ARTIFACTORY_TOKEN": self.token or "",
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def drip(head: bytes, every: float, length: int = 1_000_000) -> Callable[..., None]:
    """An answer sending `head` (the status line and headers, or part of them) a byte at a
    time, then a body of `length` bytes, a byte every `every` seconds: each read gets
    something, so a per-read timeout never fires."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        for byte in head:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(every)
        for _ in range(length):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(every)

    return answer


def endless(total: int, declared: int | None = None) -> Callable[..., None]:
    """An answer of `total` bytes of zeros, made as it is sent (never held in memory), with
    `declared` as its Content-Length (none when None: the body ends with the connection)."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        if declared is not None:
            handler.send_header("Content-Length", str(declared))
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = bytes(1 << 16)
        sent = 0
        while sent < total:
            handler.wfile.write(chunk)
            sent += len(chunk)
        handler.close_connection = True

    return answer
