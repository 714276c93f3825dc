"""Publish a bundle to an Artifactory-style repository: HTTP PUT with checksum headers.

Nothing published is ever deleted: a version already there with the same bytes is left as
it is (so a publish cut short can simply be run again), one with other bytes is refused
unless forced, and a forced publish uploads over it, so the old file stays until the new
one has arrived whole. After the archive and its manifest, `index.json` beside them is
rewritten with the version's entry (release/index.py): whole, in one PUT, and read back.
Credentials come from the settings, never reach output, and never follow a redirect to
another host. Server errors and broken connections are retried by
RETRY_CONFIG (the policy the event publisher uses).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from processing_core.errors import ProcessingCoreError
from processing_core.release.archive import BundleLimits, check_archive, open_archive
from processing_core.release.credentials import repository_auth
from processing_core.release.index import INDEX, IndexEntry, IndexFormatError, RepositoryIndex
from processing_core.release.manifest import MANIFEST
from processing_core.retry import retrying

if TYPE_CHECKING:
    from processing_core.config import Settings

Progress = Callable[[int], None]
# Seconds to connect, and to wait for each answer (a large upload is not one answer).
TIMEOUT = (10, 120)


class PublishError(ProcessingCoreError):
    """Publishing failed; the message says why and what to do."""


class _ServerError(Exception):
    """A 5xx answer: worth another attempt."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        super().__init__(f"{response.status_code} {response.reason}")


# Rewrites of index.json when another publisher's rewrite crossed ours.
INDEX_ATTEMPTS = 3


@dataclass
class PublishReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # The index's URL, and whether this publish changed it.
    index: str = ""
    index_written: bool = False


def publish_bundle(
    path: Path,
    url: str,
    settings: Settings,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> PublishReport:
    """PUT the archive and its manifest under `url`; say what was written and what was there."""
    base = _repository_url(url)
    with open_archive(path) as archive:
        # The checks install makes: never publish what no deployment would install (with
        # BUNDLE_TRUSTED_KEYS here too: an unsigned bundle).
        check_archive(archive, path, BundleLimits.from_settings(settings), settings.trusted_keys())
        manifest = archive.read(MANIFEST)
    data = path.read_bytes()
    uploads = [
        (f"{base}/{path.name}", data, "application/zip"),
        (f"{base}/{path.name.removesuffix('.zip')}.{MANIFEST}", manifest, "application/json"),
    ]
    client = _Client(settings)
    index_url = f"{base}/{INDEX}"
    client.read_index(index_url)  # one that is not ours stops the publish before any upload
    report = PublishReport(index=index_url)
    pending = []
    for target, body, content_type in uploads:
        published = client.published_sha256(target)
        if published is None:
            pending.append((target, body, content_type))
        elif published == hashlib.sha256(body).hexdigest():
            report.unchanged.append(target)
        elif force:
            pending.append((target, body, content_type))
        else:
            raise PublishError(
                f"{target} is already published with other content; versions are immutable: "
                "publish another version, or pass --force to replace it"
            )
    # The archive first: the manifest beside it announces a complete version.
    for target, body, content_type in pending:
        client.put(target, body, content_type, progress if content_type.endswith("zip") else None)
        report.written.append(target)
    distribution = json.loads(manifest)["distribution"]
    entry = IndexEntry(
        archive=uploads[0][0].rsplit("/", 1)[1],
        archive_sha256=hashlib.sha256(data).hexdigest(),
        manifest=uploads[1][0].rsplit("/", 1)[1],
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        archive_size=len(data),
    )
    report.index_written = _record(client, index_url, distribution, entry)
    return report


def _record(client: _Client, url: str, distribution: dict[str, str], entry: IndexEntry) -> bool:
    """Put the version's entry into the index; False when it was there already."""
    name, version = distribution["name"], distribution["version"]
    for _ in range(INDEX_ATTEMPTS):
        index = client.read_index(url)
        if entry.same_files(index.get(name, version)):
            return False
        entry = index.add(name, version, entry)
        try:
            client.put(url, index.to_json(), "application/json", None)
        except PublishError as error:
            raise PublishError(
                f"{name} {version} is published, but {INDEX} could not be updated ({error}); "
                f"the DAG bundle finds versions through it: allow the credentials to overwrite "
                f"{INDEX}, then run publish again (identical files are left as they are)"
            ) from None
        # Read back: another publisher's rewrite may have crossed ours.
        if entry.same_files(client.read_index(url).get(name, version)):
            return True
    raise PublishError(
        f"{name} {version} is published, but {INDEX} kept losing its entry to concurrent "
        "publishes; run publish again"
    )


def _repository_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PublishError(
            f"--url {url!r} is not an http(s) URL; pass the repository folder, e.g. "
            "https://artifactory.example.org/artifactory/dags-local/workflows"
        )
    if parts.username or parts.password:
        raise PublishError(
            "--url holds credentials; remove them and set ARTIFACTORY_TOKEN (or "
            "ARTIFACTORY_USERNAME and ARTIFACTORY_PASSWORD) instead"
        )
    return url.rstrip("/")


class _Client:
    def __init__(self, settings: Settings) -> None:
        self.retry = settings.retry_config
        self.session = requests.Session()
        # Session-level auth (not a header): requests drops the Authorization header on a
        # redirect to another host.
        self.session.auth = repository_auth(settings)

    def read_index(self, url: str) -> RepositoryIndex:
        """The repository's index (empty when there is none yet)."""
        response = self._send("GET", url)
        if response.status_code == 404:
            return RepositoryIndex.empty()
        if not response.ok:
            raise _explain(response, url)
        try:
            return RepositoryIndex.parse(response.content)
        except IndexFormatError as error:
            raise PublishError(
                f"{url} is not an index processing-core keeps ({error}); move it away or "
                "publish to another folder"
            ) from None

    def published_sha256(self, url: str) -> str | None:
        """None when nothing is at `url`; else its sha256 ("" when the server does not say)."""
        response = self._send("HEAD", url)
        if response.status_code == 404:
            return None
        if not response.ok:
            raise _explain(response, url)
        return response.headers.get("X-Checksum-Sha256", "").lower()

    def put(self, url: str, body: bytes, content_type: str, progress: Progress | None) -> None:
        headers = {
            "Content-Type": content_type,
            "X-Checksum-Sha256": hashlib.sha256(body).hexdigest(),
            "X-Checksum-Sha1": hashlib.sha1(body).hexdigest(),
        }
        response = self._send("PUT", url, body, headers, progress)
        if response.request.method != "PUT":
            # 301/302/303 turn a PUT into a GET: the upload never happened.
            raise PublishError(
                f"{url} redirected the upload to {response.url} as a {response.request.method}; "
                "pass the repository's final URL as --url"
            )
        if not response.ok:
            raise _explain(response, url)

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> requests.Response:
        def attempt() -> requests.Response:
            data = _Reader(body, progress) if body is not None else None
            response = self.session.request(
                method, url, data=data, headers=headers, timeout=TIMEOUT, allow_redirects=True
            )
            if response.status_code >= 500:
                raise _ServerError(response)
            return response

        try:
            for retry in retrying(
                self.retry,
                retry_if=lambda error: isinstance(
                    error, _ServerError | requests.ConnectionError | requests.Timeout
                ),
            ):
                with retry:
                    return attempt()
        except _ServerError as error:
            raise _explain(error.response, url) from None
        except (requests.ConnectionError, requests.Timeout) as error:
            raise PublishError(
                f"cannot reach {url} after {self.retry.attempts} attempt(s): "
                f"{type(error).__name__}; check --url and the network"
            ) from None
        except requests.RequestException as error:
            raise PublishError(f"{method} {url} failed: {type(error).__name__}: {error}") from None
        raise AssertionError("unreachable")  # pragma: no cover


class _Reader(io.BytesIO):
    """The body, reporting how much of it has been sent."""

    def __init__(self, body: bytes, progress: Progress | None) -> None:
        super().__init__(body)
        self._progress = progress
        self.len = len(body)  # requests sets Content-Length from it

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self._progress is not None and chunk:
            self._progress(len(chunk))
        return chunk


def _explain(response: requests.Response, url: str) -> PublishError:
    fixes = {
        401: "authentication failed: set ARTIFACTORY_TOKEN, or ARTIFACTORY_USERNAME and "
        "ARTIFACTORY_PASSWORD",
        403: "the credentials may not deploy (or overwrite) there: ask for deploy permission on "
        "the repository",
        404: "no such repository path: check --url",
        409: "the repository refuses to overwrite it: publish another version",
    }
    fix = fixes.get(response.status_code, "the repository refused the request")
    return PublishError(f"{url} answered {response.status_code} {response.reason}: {fix}")
