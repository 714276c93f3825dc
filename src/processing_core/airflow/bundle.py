"""Versions pulled by Airflow: a DAG bundle reading what `processing-core publish` wrote.

Configured in `[dag_processor] dag_bundle_config_list`, e.g.

    [{"name": "pipelines",
      "classpath": "processing_core.airflow.bundle.ArtifactRepositoryDagBundle",
      "kwargs": {"url": "https://artifactory.example.org/artifactory/dags-local/workflows",
                 "distributions": ["workflows"], "keep": 3, "conn_id": "artifactory"}}]

`refresh()` reads the folder's `index.json` (one GET), picks the versions the retention
keeps (the newest `keep` per distribution, or the `versions` allowed), downloads what it
does not have, checks each archive as `verify` and `install` do (the index's sha256, then
names, listed files and sizes), and makes the set one folder per version under
`<bundle>/versions/<set>/`; `<bundle>/current` then points at it in one rename. A version
that fails a check is left out with one log line; a repository that cannot be read leaves
the last good set as it is, with one log line per refresh.

A version the retention drops stays in the set while one of its DAGs has a queued or
running run (Airflow's metadata database, or its API with AIRFLOW_API_URL), as `prune`
keeps it: a DAG that leaves the bundle goes stale, and the scheduler never schedules the
rest of its runs. When Airflow cannot be asked, nothing is dropped.

The repository can be slow, hostile or broken, and a refresh runs in the dag-processor's
loop holding the bundle's lock, so every download is bounded (airflow/repository_fetch.py):
each GET has a total deadline (BUNDLE_FETCH_SECONDS), a refresh spends at most
BUNDLE_REFRESH_SECONDS downloading archives (the rest waits for the next refresh, said in one
line), the index at most BUNDLE_MAX_INDEX_BYTES and BUNDLE_MAX_INDEX_ENTRIES, an archive at
most the size the index gives it (else BUNDLE_MAX_TOTAL_BYTES and a little), streamed to a
file and checksummed as it arrives; and an archive many entries list is fetched once. With
BUNDLE_TRUSTED_KEYS (or `trusted_keys=[...]`) only bundles signed by one of those keys are
used (release/signing.py).

The bundle's version (`supports_versioning`) is `<seq>-<digest>[+<held>]`: the index's
state the set was chosen from, a digest of the set (distribution, version, manifest
sha256), and the index entries (by their seq, dot-separated) held for runs in progress. A
worker given that version rebuilds exactly that set from the index as it was at `seq`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.dag_processing.bundles.base import BaseDagBundle, BundleVersion

log = logging.getLogger(__name__)

INDEX = "index.json"
_VERSION_RE = re.compile(
    r"(?P<seq>[0-9]{1,12})-(?P<digest>[0-9a-f]{16})(?:\+(?P<held>[0-9]{1,12}(?:\.[0-9]{1,12})*))?\Z"
)
# Airflow stores a bundle version in 250 characters: at most this many held versions.
MAX_HELD = 16
# Set folders the dag-processor keeps besides the current one (workers on this machine may
# still read them; Airflow's own cleanup removes those it tracks).
KEEP_SETS = 3
# What a zip adds to the files it holds (headers, names, a central directory), at most.
ZIP_SLACK_BYTES = 1 << 20


class BundleConfigError(ValueError):
    """The bundle's configuration cannot work; the message names the key and the fix."""


@dataclass(frozen=True)
class Member:
    """One version in a set."""

    distribution: str
    version: str
    archive: str
    archive_sha256: str
    manifest_sha256: str
    seq: int = 0  # the index entry's (named in the bundle version when the member is held)

    @property
    def folder(self) -> str:
        return f"{self.distribution}-{self.version}"


class ArtifactRepositoryDagBundle(BaseDagBundle):
    """DAG files of the versions published to an Artifactory-style repository folder."""

    supports_versioning = True

    def __init__(
        self,
        *,
        url: str,
        distributions: Sequence[str] | None = None,
        keep: int | None = None,
        versions: Sequence[str] | None = None,
        conn_id: str | None = None,
        trusted_keys: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url = _checked_url(url)
        self.distributions = _names(distributions, "distributions")
        self.allowed = _names(versions, "versions")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise BundleConfigError(f"keep={keep!r}: give a whole number >= 1 (newest N kept)")
        if keep is None and self.allowed is None:
            raise BundleConfigError("give keep=N (the newest N per distribution) or versions=[...]")
        self.keep = keep
        self.conn_id = conn_id
        if self.version is not None and not _VERSION_RE.fullmatch(self.version):
            raise BundleConfigError(f"version {self.version!r} is not one this bundle made")
        self.current = self.base_dir / "current"
        self.cache = self.base_dir / "archives"
        self._last_error: str | None = None
        self._last_hold_problem: str | None = None
        # Entries refused once (by distribution, version and sha256): not tried again; and
        # archives whose content was refused (by sha256): not fetched again.
        self._refused: set[tuple[str, str, str]] = set()
        self._refused_archives: dict[str, str] = {}
        self._settings = _release_settings()
        self.trusted = _trusted_keys(self._settings, trusted_keys)
        self._budget = _Budget(self._settings.bundle_refresh_seconds)

    # -- where Airflow reads ------------------------------------------------------------------
    @property
    def path(self) -> Path:
        if self.version is not None:
            return self.versions_dir / self.version
        return self.current

    def get_current_version(self) -> BundleVersion | None:
        version = self.version
        if version is None:
            target = os.readlink(self.current) if self.current.is_symlink() else None
            version = Path(target).name if target else None
        return BundleVersion(version=version) if version else None

    def initialize(self) -> None:
        with self.lock():
            if self.version is not None and not self.path.is_dir():
                self._build_version(self.version)
            elif self.version is None and not self.current.exists():
                self.refresh()
        super().initialize()

    # -- refreshing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Make `current` the set the retention keeps now; on any failure, keep the last."""
        if self.version is not None:
            return  # a worker's bundle is one fixed set
        with self.lock():
            self._budget = _Budget(self._settings.bundle_refresh_seconds)
            try:
                index = self._index()
            except (OSError, ValueError) as error:
                self._log_once(f"cannot read {self.url}/{INDEX} ({error}); keeping the last set")
                return
            self._last_error = None
            members = self._good_members(index, index.seq)
            self._budget.report(self.name)
            held = self._held(index, members)
            if held is None:
                return  # too many to hold: the last set stays (logged)
            version = _set_version(index.seq, members + held, held)
            current = self.get_current_version()
            if current is not None and current.version.split("-", 1)[1] == version.split("-", 1)[1]:
                return  # the same set (the index only changed elsewhere)
            folder = self.versions_dir / version
            if not folder.is_dir():
                self._make_set(folder, members + held)
            _point(self.current, folder)
            log.info(
                "Bundle %s now holds %s (%s)",
                self.name,
                ", ".join(f"{m.distribution} {m.version}" for m in members) or "nothing",
                version,
            )
            for member in held:
                log.info(
                    "Bundle %s keeps %s %s while a DAG of it has a queued or running run",
                    self.name,
                    member.distribution,
                    member.version,
                )
            self._remove_old_sets(keep=folder)
            self._remove_unused_archives(members + held)

    def _build_version(self, version: str) -> None:
        """A worker: rebuild exactly the set `version` names, from the index at its seq."""
        match = _VERSION_RE.fullmatch(version)
        assert match is not None  # checked in __init__
        seq = int(match["seq"])
        index = self._index()
        members = self._good_members(index, seq)
        state = index.as_of(seq)
        held = {int(number) for number in (match["held"] or "").split(".") if number}
        for distribution, versions in state.distributions.items():
            for number, entry in versions.items():
                if entry.seq in held:
                    members.append(
                        Member(distribution, number, entry.archive, entry.archive_sha256,
                               entry.manifest_sha256)
                    )  # fmt: skip
        if _digest(members) != match["digest"]:
            raise BundleConfigError(
                f"bundle {self.name}: the repository no longer holds set {version} (a version "
                "of it was replaced by a forced publish, or the retention changed)"
            )
        self._make_set(self.versions_dir / version, members)

    def _held(self, index: Any, chosen: list[Member]) -> list[Member] | None:
        """Versions of the current set the retention drops now whose DAGs have a queued or
        running run: they stay until those runs end. All of them when Airflow cannot be
        asked; None (keep the last set) when more than MAX_HELD would stay."""
        from processing_core.config import ReleaseSettings, load
        from processing_core.release.active_runs import ActiveRunsUnknown, active_dag_ids

        kept = {(m.distribution, m.version) for m in chosen}
        dropped = [v for v in self._current_set() if (v[0], v[1]) not in kept]
        if not dropped:
            self._last_hold_problem = None
            return []
        try:
            busy = active_dag_ids(
                [dag_id for *_, dag_ids in dropped for dag_id in dag_ids], load(ReleaseSettings)
            )
            problem = None
        except ActiveRunsUnknown as error:
            busy, problem = None, f"{error}; dropping no version until Airflow answers"
        held = []
        for distribution, version, dag_ids in dropped:
            if busy is not None and not set(dag_ids) & busy:
                continue
            entry = index.get(distribution, version)
            try:
                if entry is None:
                    raise ValueError("the repository no longer lists it")
                member = Member(distribution, version, entry.archive, entry.archive_sha256,
                                entry.manifest_sha256, entry.seq)  # fmt: skip
                self._cached(member, entry.archive_size)
            except (OSError, ValueError) as error:
                log.warning(
                    "Bundle %s cannot keep %s %s for its runs in progress: %s",
                    self.name,
                    distribution,
                    version,
                    error,
                )
                continue
            held.append(member)
        if len(held) > MAX_HELD:
            problem = (
                f"{len(held)} versions have runs in progress, more than the {MAX_HELD} a bundle "
                "version can name; keeping the last set"
            )
        if problem != self._last_hold_problem and problem is not None:
            log.warning("Bundle %s: %s", self.name, problem)
        self._last_hold_problem = problem
        return None if len(held) > MAX_HELD else held

    def _current_set(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(distribution, version, dag_ids) of each version in the current set, from the
        manifests in its folders."""
        from processing_core.release.manifest import MANIFEST, parse_manifest

        found = []
        folders = sorted(self.current.iterdir()) if self.current.is_dir() else []
        for folder in folders:
            try:
                manifest, _ = parse_manifest((folder / MANIFEST).read_bytes())
            except OSError:
                manifest = None
            if manifest is not None:
                dag_ids = tuple(workflow.dag_id for workflow in manifest.workflows)
                found.append((manifest.distribution.name, manifest.distribution.version, dag_ids))
        return found

    def _good_members(self, index: Any, seq: int) -> list[Member]:
        """The versions the retention keeps from the index as of `seq`, skipping (with a log
        line each, the first few of a refresh; then one line counting the rest) those whose
        archive fails a check. A refused one is neither fetched nor logged again."""
        from packaging.version import InvalidVersion, Version

        state = index.as_of(seq)
        chosen: list[Member] = []
        skips = _SkipLog(self.name)
        for distribution in sorted(state.distributions):
            if self.distributions is not None and distribution not in self.distributions:
                continue
            versions = state.distributions[distribution]
            ordered = []
            for version, entry in versions.items():
                if (distribution, version, entry.archive_sha256) in self._refused:
                    continue
                try:
                    ordered.append((Version(version), version))
                except InvalidVersion:
                    skips.add("Skipping %s %s: not a PEP 440 version", distribution, version)
                    self._refused.add((distribution, version, entry.archive_sha256))
            kept = 0
            for _, version in sorted(ordered, reverse=True):
                if self.allowed is not None and version not in self.allowed:
                    continue
                if self.keep is not None and kept >= self.keep:
                    break
                entry = versions[version]
                member = Member(
                    distribution, version, entry.archive, entry.archive_sha256,
                    entry.manifest_sha256,
                )  # fmt: skip
                try:
                    self._cached(member, entry.archive_size)
                except _OutOfTime:  # counted; one line for all of them (Budget.report)
                    continue
                except ValueError as error:  # the archive itself: refused for good
                    skips.add("Skipping %s %s: %s", distribution, version, error)
                    self._refused.add((distribution, version, entry.archive_sha256))
                    continue
                except OSError as error:  # the network or the disk: tried again next time
                    skips.add("Skipping %s %s for now: %s", distribution, version, error)
                    continue
                chosen.append(member)
                kept += 1
        skips.close()
        return chosen

    def _cached(self, member: Member, size: int | None = None) -> Path:
        """The member's checked, unpacked files: its archive downloaded once (by sha256, so
        once whatever number of entries list it), checked as `install` checks a bundle."""
        digest = member.archive_sha256
        unpacked = self.cache / digest
        if not unpacked.is_dir():
            if digest in self._refused_archives:
                raise ValueError(self._refused_archives[digest])
            try:
                self._fetch_archive(member, size, unpacked)
            except ValueError as error:
                self._refused_archives[digest] = str(error)
                raise
        named = _named(unpacked)
        if named != (member.distribution, member.version):
            raise ValueError(
                f"{member.archive} holds {named[0]} {named[1]}, not what the index says"
            )
        return unpacked

    def _fetch_archive(self, member: Member, size: int | None, unpacked: Path) -> None:
        """Download the archive to a file (bounded, checksummed as it streams), check it, and
        unpack it as `unpacked`. ValueError: its content is refused; OSError: try later."""
        from processing_core.airflow.repository_fetch import TooLargeError, fetch_to
        from processing_core.release.archive import BundleError, BundleLimits, extract_bundle

        limits = BundleLimits.from_settings(self._settings)
        bound = size if size is not None else limits.max_total_bytes + ZIP_SLACK_BYTES
        seconds, setting = self._budget.seconds_for_one(self._settings.bundle_fetch_seconds)
        self.cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.cache, prefix=".staging-"))
        try:
            archive = staging / member.archive
            try:
                with archive.open("wb") as sink:
                    fetched = fetch_to(
                        f"{self.url}/{member.archive}", sink, max_bytes=bound, seconds=seconds,
                        auth=self._auth(), deadline_setting=setting,
                    )  # fmt: skip
            except TooLargeError as error:
                raise ValueError(f"{error}; refusing it") from None
            if fetched.sha256 != member.archive_sha256:
                raise ValueError(
                    f"{member.archive} has sha256 {fetched.sha256}, not the index's "
                    f"{member.archive_sha256}: refusing a changed archive"
                )
            files = staging / "files"
            files.mkdir()
            try:
                extract_bundle(archive, files, limits, self.trusted)
            except BundleError as error:
                raise ValueError("; ".join(error.problems)) from None
            os.rename(files, unpacked)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _make_set(self, folder: Path, members: list[Member]) -> None:
        """The set's folder, complete before it gets its name: one folder per version."""
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.versions_dir, prefix=".staging-"))
        try:
            for member in members:
                shutil.copytree(self._cached(member), staging / member.folder)
                (staging / member.folder).chmod(0o755)
            staging.chmod(0o755)
            os.rename(staging, folder)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not folder.is_dir():  # another process may have made the same set meanwhile
                raise

    def _remove_old_sets(self, keep: Path) -> None:
        sets = sorted(
            (
                p
                for p in self.versions_dir.iterdir()
                if p.is_dir() and _VERSION_RE.fullmatch(p.name)
            ),
            key=lambda p: int(p.name.split("-", 1)[0]),
        )
        for old in [p for p in sets if p != keep][:-KEEP_SETS]:
            shutil.rmtree(old, ignore_errors=True)

    def _remove_unused_archives(self, members: list[Member]) -> None:
        """Unpacked archives the current set does not use (fetched again if ever needed)."""
        used = {m.archive_sha256 for m in members}
        for unpacked in self.cache.iterdir() if self.cache.is_dir() else ():
            if unpacked.name not in used and not unpacked.name.startswith(".staging-"):
                shutil.rmtree(unpacked, ignore_errors=True)

    # -- the repository -----------------------------------------------------------------------
    def _index(self) -> Any:
        from processing_core.airflow.repository_fetch import TooLargeError, fetch_bytes
        from processing_core.release.index import IndexFormatError, RepositoryIndex

        settings = self._settings
        try:
            text = fetch_bytes(
                f"{self.url}/{INDEX}", max_bytes=settings.bundle_max_index_bytes,
                seconds=settings.bundle_fetch_seconds, auth=self._auth(),
            )  # fmt: skip
            return RepositoryIndex.parse(text, max_entries=settings.bundle_max_index_entries)
        except TooLargeError as error:
            raise ValueError(f"{error} (BUNDLE_MAX_INDEX_BYTES)") from None
        except IndexFormatError as error:
            raise ValueError(f"{INDEX} is not an index processing-core keeps: {error}") from None

    def _auth(self) -> Any:
        """Credentials: the Airflow connection `conn_id` (login and password, or a token as
        its password), else ARTIFACTORY_TOKEN or ARTIFACTORY_USERNAME/PASSWORD."""
        from processing_core.release.credentials import BearerAuth, repository_auth

        if self.conn_id:
            from airflow.sdk.bases.hook import BaseHook

            connection = BaseHook.get_connection(self.conn_id)
            if connection.login:
                return (connection.login, connection.password or "")
            return BearerAuth(connection.password) if connection.password else None
        from processing_core.config import ReleaseSettings, load

        return repository_auth(load(ReleaseSettings))

    def _log_once(self, message: str) -> None:
        """One line per refresh, whatever failed how often."""
        if message != self._last_error:
            log.warning("Bundle %s: %s", self.name, message)
        else:
            log.info("Bundle %s: still %s", self.name, message)
        self._last_error = message


class _SkipLog:
    """Log lines of skipped versions: the first few of a refresh, then one counting the rest
    (an index of thousands of bad entries must not flood the dag-processor's log)."""

    SHOWN = 5

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def add(self, message: str, *args: object) -> None:
        self.count += 1
        if self.count <= self.SHOWN:
            log.warning(message, *args)

    def close(self) -> None:
        if self.count > self.SHOWN:
            log.warning(
                "Bundle %s: %d more versions skipped, as above",
                self.name,
                self.count - self.SHOWN,
            )


class _OutOfTime(OSError):
    """The refresh spent its time downloading: this archive waits for the next one."""


class _Budget:
    """The time one refresh may spend downloading archives, and what it had to leave."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.left = 0

    def seconds_for_one(self, most: float) -> tuple[float, str]:
        """The time the next download may take, and the setting that bounds it; _OutOfTime
        when none is left."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.left += 1
            raise _OutOfTime("no time left in this refresh")
        if remaining < most:
            return remaining, "BUNDLE_REFRESH_SECONDS"
        return most, "BUNDLE_FETCH_SECONDS"

    def report(self, name: str) -> None:
        if self.left:
            log.warning(
                "Bundle %s: spent %g s (BUNDLE_REFRESH_SECONDS) downloading archives; %d more "
                "wait for the next refresh",
                name,
                self.seconds,
                self.left,
            )


def _named(unpacked: Path) -> tuple[str, str]:
    """(distribution, version) the manifest of an unpacked archive names."""
    from processing_core.release.manifest import MANIFEST, parse_manifest

    manifest, _ = parse_manifest((unpacked / MANIFEST).read_bytes())
    if manifest is None:  # checked when it was unpacked; changed on disk since
        raise OSError(f"{unpacked / MANIFEST} is no longer readable")
    return manifest.distribution.name, manifest.distribution.version


def _release_settings() -> Any:
    from processing_core.config import ReleaseSettings, load
    from processing_core.errors import SettingsError

    try:
        return load(ReleaseSettings)
    except SettingsError as error:
        raise BundleConfigError(str(error)) from None


def _trusted_keys(settings: Any, configured: object) -> Any:
    """BUNDLE_TRUSTED_KEYS and the bundle's own `trusted_keys`."""
    from processing_core.release.signing import SigningError, TrustedKeys

    own = _names(configured, "trusted_keys") or frozenset()
    try:
        keys = {
            **settings.trusted_keys().keys,
            **TrustedKeys.from_items(sorted(own), "trusted_keys").keys,
        }
    except SigningError as error:
        raise BundleConfigError(str(error)) from None
    return TrustedKeys(keys)


def _set_version(seq: int, members: list[Member], held: list[Member]) -> str:
    version = f"{seq}-{_digest(members)}"
    return version + (
        "+" + ".".join(str(m.seq) for m in sorted(held, key=lambda m: m.seq)) if held else ""
    )


def _digest(members: list[Member]) -> str:
    lines = sorted(f"{m.distribution} {m.version} {m.manifest_sha256}" for m in members)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _point(link: Path, target: Path) -> None:
    """Make `link` a symlink to `target` in one rename (readers see the old or the new)."""
    staging = link.with_name(f".{link.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    staging.symlink_to(target)
    os.replace(staging, link)


def _checked_url(url: object) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BundleConfigError(f"url={url!r}: give the repository folder `publish` writes to")
    if parts.username or parts.password:
        raise BundleConfigError("url holds credentials; use conn_id= or ARTIFACTORY_TOKEN")
    return str(url).rstrip("/")


def _names(values: object, key: str) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise BundleConfigError(f'{key} must be a list of strings, e.g. ["workflows"]')
    if not all(isinstance(value, str) and value for value in values):
        raise BundleConfigError(f"{key} must be a list of non-empty strings")
    return frozenset(values)
