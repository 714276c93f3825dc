"""A small Artifactory-like repository on loopback: PUT, HEAD, DELETE, with its answers."""

from __future__ import annotations

import hashlib
import http.server
import threading


class Repository:
    def __init__(self, token: str) -> None:
        self.token = token
        self.files: dict[str, bytes] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.fail_next: list[int] = []  # status codes to answer the next PUTs with
        self.requests: list[tuple[str, str]] = []
        repository = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _authorised(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {repository.token}":
                    return True
                self._answer(401)
                return False

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                repository.requests.append(("HEAD", self.path))
                if self._authorised():
                    self._answer(200 if self.path in repository.files else 404)

            def do_DELETE(self) -> None:
                repository.requests.append(("DELETE", self.path))
                if self._authorised():
                    found = repository.files.pop(self.path, None)
                    self._answer(204 if found is not None else 404)

            def do_PUT(self) -> None:
                repository.requests.append(("PUT", self.path))
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not self._authorised():
                    return
                if repository.fail_next:
                    self._answer(repository.fail_next.pop(0))
                    return
                if self.path in repository.files:
                    self._answer(409, b"overwrite not allowed")
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
        self.url = f"http://127.0.0.1:{self.server.server_port}/artifactory/dags-local"

    def close(self) -> None:
        self.server.shutdown()
