"""A real OpenLineage HTTP endpoint on loopback (what Marquez serves at /api/v1/lineage):
keeps every event it is sent, with its headers."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any


class LineageReceiver:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path != "/api/v1/lineage":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver.events.append(json.loads(body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def env(self, **extra: str) -> dict[str, str]:
        return {"OPENLINEAGE_URL": self.url, **extra}

    def by_job(self) -> dict[str, list[str]]:
        """Job name -> its events' types, in the order they arrived."""
        found: dict[str, list[str]] = {}
        for event in self.events:
            found.setdefault(event["job"]["name"], []).append(event["eventType"])
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
