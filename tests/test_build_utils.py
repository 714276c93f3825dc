"""The repository's own build steps, run as CI runs them, against a real loopback server."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from conftest import REPO_ROOT, subprocess_env


class Repository(http.server.BaseHTTPRequestHandler):
    """Stores PUT bodies; checks the checksum header like Artifactory does."""

    stored: dict[str, tuple[bytes, dict]] = {}

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if hashlib.sha256(body).hexdigest() != self.headers.get("X-Checksum-Sha256"):
            self.send_response(409)
        else:
            self.stored[self.path] = (body, dict(self.headers))
            self.send_response(201)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def repository():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Repository)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Repository.stored = {}
    yield f"http://127.0.0.1:{server.server_port}/dags", Repository.stored
    server.shutdown()


def test_export_then_publish_the_example(tmp_path: Path, repository):
    url, stored = repository
    env = subprocess_env(PROCESSING_CORE=str(Path(sys.executable).parent / "processing-core"))
    export = subprocess.run(
        ["bash", "build_utils/export_dags.sh", "5.0.0", str(tmp_path / "dags")], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr
    dags = tmp_path / "dags"
    command = [sys.executable, "build_utils/publish_dags.py", str(dags), "--version", "5.0.0",
               "--url", url]  # fmt: skip
    env["ARTIFACTORY_TOKEN"] = "s3cret-token"
    runs = [subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
            for _ in range(2)]  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "s3cret-token" not in run.stdout + run.stderr
    body, headers = stored["/dags/dags-5.0.0.zip"]
    assert headers["Authorization"] == "Bearer s3cret-token"
    names = zipfile.ZipFile(BytesIO(body)).namelist()
    assert "l0_to_l1_vbi_5.0.0.py" in names
    for name in names:
        assert zipfile.ZipFile(BytesIO(body)).read(name) == (dags / name).read_bytes()


def test_publish_reports_an_unreachable_repository(tmp_path: Path):
    (tmp_path / "a.py").write_text("# dag\n")
    run = subprocess.run(
        [sys.executable, "build_utils/publish_dags.py", str(tmp_path), "--version", "1",
         "--url", "http://127.0.0.1:9/dags"],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 1
    assert "cannot reach http://127.0.0.1:9/dags/dags-1.zip" in run.stderr
