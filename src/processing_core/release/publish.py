"""Publish a bundle to an Artifactory-style repository: HTTP PUT with checksum headers.

Refuses to overwrite a published version unless forced; retries server errors and broken
connections by RETRY_CONFIG; credentials come from the settings and never reach output.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from processing_core.errors import ProcessingCoreError
from processing_core.release.bundle import MANIFEST

if TYPE_CHECKING:
    from processing_core.config import Settings

Progress = Callable[[int], None]


class PublishError(ProcessingCoreError):
    """Publishing failed; the message says why and what to do."""


def publish_bundle(
    path: Path,
    url: str,
    settings: Settings,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """PUT the archive and its manifest under `url`; return the URLs written."""
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = archive.read(MANIFEST)
    base = url.rstrip("/")
    uploads = [
        (f"{base}/{path.name}", data, "application/zip"),
        (f"{base}/{path.name.removesuffix('.zip')}.{MANIFEST}", manifest, "application/json"),
    ]
    client = _Client(settings)
    for target, _body, _type in uploads:
        if client.exists(target):
            if not force:
                raise PublishError(
                    f"{target} is already published; versions are immutable: publish another "
                    "version, or pass --force to replace it"
                )
            client.delete(target)
    for target, body, content_type in uploads:
        client.put(target, body, content_type, progress if content_type.endswith("zip") else None)
    return [target for target, _, _ in uploads]


class _Client:
    def __init__(self, settings: Settings) -> None:
        self.retry = settings.retry_config
        self.headers: dict[str, str] = {}
        if settings.artifactory_token is not None:
            self.headers["Authorization"] = (
                f"Bearer {settings.artifactory_token.get_secret_value()}"
            )
        elif settings.artifactory_username and settings.artifactory_password is not None:
            password = settings.artifactory_password.get_secret_value()
            pair = f"{settings.artifactory_username}:{password}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()

    def exists(self, url: str) -> bool:
        try:
            self._send("HEAD", url)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise _explain(error, url) from None
        return True

    def delete(self, url: str) -> None:
        try:
            self._send("DELETE", url)
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise _explain(error, url) from None

    def put(self, url: str, body: bytes, content_type: str, progress: Progress | None) -> None:
        headers = {
            "Content-Type": content_type,
            "X-Checksum-Sha256": hashlib.sha256(body).hexdigest(),
            "X-Checksum-Sha1": hashlib.sha1(body).hexdigest(),
        }
        try:
            self._send("PUT", url, body, headers, progress)
        except urllib.error.HTTPError as error:
            raise _explain(error, url) from None

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> int:
        delays = [0.0, *self.retry.delays()]
        for attempt, delay in enumerate(delays):
            if attempt:
                time.sleep(delay + random.uniform(0, self.retry.jitter_seconds))
            data = _Reader(body, progress) if body is not None else None
            request = urllib.request.Request(
                url, data=data, method=method, headers={**self.headers, **(headers or {})}
            )
            if body is not None:
                request.add_header("Content-Length", str(len(body)))
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == len(delays) - 1:
                    raise
            except (urllib.error.URLError, OSError) as error:
                if attempt == len(delays) - 1:
                    reason = getattr(error, "reason", error)
                    raise PublishError(
                        f"cannot reach {url} after {len(delays)} attempts: {reason}"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover


class _Reader(io.BytesIO):
    """The body, reporting how much of it has been sent."""

    def __init__(self, body: bytes, progress: Progress | None) -> None:
        super().__init__(body)
        self._progress = progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self._progress is not None and chunk:
            self._progress(len(chunk))
        return chunk


def _explain(error: urllib.error.HTTPError, url: str) -> PublishError:
    fixes = {
        401: "authentication failed: set ARTIFACTORY_TOKEN, or ARTIFACTORY_USERNAME and "
        "ARTIFACTORY_PASSWORD",
        403: "the credentials may not deploy there: ask for deploy permission on the repository",
        404: "no such repository path: check --url",
        409: "the repository refuses to overwrite it: publish another version",
    }
    fix = fixes.get(error.code, "the repository refused the request")
    return PublishError(f"{url} answered {error.code} {error.reason}: {fix}")
