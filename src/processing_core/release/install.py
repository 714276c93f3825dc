"""Install bundles into an Airflow DAGs folder, list installed versions, prune old ones.

Each version lives in its own folder, `<distribution>-<version>/`, made complete beside the
DAGs folder and moved into it in one step: the scheduler sees all of a version or none, and
a reinstall swaps the old folder for the new one at once, so no DAG file is ever missing.

Install and prune hold one lock per DAGs folder (`.processing-core.lock` in it), so they
never race; whatever a killed install or prune left beside the folder is removed by the next.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from processing_core.errors import ProcessingCoreError
from processing_core.fileops import child_path, exclusive_lock
from processing_core.release.archive import BundleLimits, extract_bundle
from processing_core.release.manifest import MANIFEST, Manifest, parse_manifest
from processing_core.release.signing import TrustedKeys

LOCK = ".processing-core.lock"


class InstallError(ProcessingCoreError):
    """A bundle could not be installed, or the DAGs folder cannot be read; it is as it was."""


@dataclass(frozen=True)
class InstalledVersion:
    distribution: str
    version: str
    folder: Path
    dag_ids: tuple[str, ...]
    # What install did: installed, unchanged (same files already there) or replaced (--force).
    outcome: str = "installed"


@dataclass(frozen=True)
class Inventory:
    """What a DAGs folder holds: readable versions, newest first, and unreadable folders."""

    versions: list[InstalledVersion]
    problems: list[str]


def install_bundle(
    path: Path,
    dags_folder: Path,
    limits: BundleLimits | None = None,
    *,
    force: bool = False,
    trusted: TrustedKeys | None = None,
) -> InstalledVersion:
    """Install the bundle at `path` as `dags_folder/<distribution>-<version>/`.

    The same version already installed with the same files is left as it is (`unchanged`);
    with other files it is refused, naming them, unless `force` (`replaced`). Folders and
    files get the permissions of the DAGs folder, so a scheduler of another user reads them.
    With `trusted` keys, only a bundle signed by one of them is installed.
    """
    limits = limits or BundleLimits()
    _prepare(dags_folder, create=True)
    with _locked(dags_folder):
        staging = Path(
            tempfile.mkdtemp(prefix=_staging_prefix(dags_folder), dir=dags_folder.parent)
        )
        try:
            manifest = extract_bundle(path, staging, limits, trusted)
            _match_permissions(staging, dags_folder)
            target = child_path(dags_folder, manifest.folder_name, "installed folder")
            if not (target.exists() or target.is_symlink()):
                os.rename(staging, target)
                return _installed_version(target, manifest, "installed")
            differences = _differences(target, manifest)
            if not differences:
                return _installed_version(target, manifest, "unchanged")
            if not force:
                raise InstallError(
                    f"{manifest.distribution.name} {manifest.distribution.version} is already "
                    f"installed in {target} with other content ({'; '.join(differences)}); a "
                    "version's DAGs must not change under the same number: release a new "
                    "version, or pass --force to replace it"
                )
            # Replace: swap old and new in one step; the old copy is now at `staging`.
            _exchange(staging, target)
        finally:
            _remove(staging)
    return _installed_version(target, manifest, "replaced")


def _differences(installed: Path, manifest: Manifest) -> list[str]:
    """How the installed copy's files differ from the bundle's (by the manifests' checksums)."""
    try:
        found, _ = parse_manifest((installed / MANIFEST).read_bytes())
    except OSError:
        found = None
    if found is None:
        return [f"{installed / MANIFEST} is missing or unreadable"]
    old = {workflow.file: workflow.sha256 for workflow in found.workflows}
    new = {workflow.file: workflow.sha256 for workflow in manifest.workflows}
    return [
        *(f"{name} changed" for name in sorted(old.keys() & new.keys()) if old[name] != new[name]),
        *(f"{name} added" for name in sorted(new.keys() - old.keys())),
        *(f"{name} removed" for name in sorted(old.keys() - new.keys())),
    ]


def _match_permissions(staging: Path, dags_folder: Path) -> None:
    """Give the staged version the DAGs folder's read and write bits (files without execute):
    a dag-processor that reads the DAGs folder through its group or others reads these too."""
    bits = dags_folder.stat().st_mode & 0o777
    staging.chmod(bits)
    for root, folders, names in os.walk(staging):
        for name in folders:
            os.chmod(os.path.join(root, name), bits)
        for name in names:
            os.chmod(os.path.join(root, name), bits & 0o666)


def inventory(dags_folder: Path) -> Inventory:
    """Every installed version by distribution, newest first, and every unreadable one."""
    _prepare(dags_folder, create=False)
    versions, problems = [], []
    for folder in sorted(dags_folder.iterdir()):
        if not folder.is_dir() or folder.is_symlink() or not (folder / MANIFEST).is_file():
            continue
        try:
            data = (folder / MANIFEST).read_bytes()
        except OSError as error:
            problems.append(f"{folder}: cannot read {MANIFEST} ({error.strerror})")
            continue
        manifest, found = parse_manifest(data)
        if manifest is None:
            problems.append(f"{folder}: {found[0]}; left untouched (reinstall or remove it)")
            continue
        versions.append(_installed_version(folder, manifest))
    versions.sort(key=lambda v: (v.distribution, _sort_key(v.version)), reverse=True)
    return Inventory(versions, problems)


def installed_versions(dags_folder: Path) -> list[InstalledVersion]:
    """Every readable installed version, by distribution, newest first."""
    return inventory(dags_folder).versions


@dataclass(frozen=True)
class PruneReport:
    removed: list[InstalledVersion]
    # Versions past `keep` left in place: a DAG of theirs has a queued or running run.
    kept_active: list[tuple[InstalledVersion, list[str]]]
    # Folders whose manifest cannot be read (never removed).
    problems: list[str]


def prune(
    dags_folder: Path,
    keep: int,
    active: Callable[[list[str]], set[str]] | None = None,
    *,
    force: bool = False,
) -> PruneReport:
    """Remove all but the newest `keep` versions of each distribution, except versions whose
    DAGs `active` (Airflow) says have a queued or running run, unless `force`: removing a
    version under a running run leaves that run stuck ("Dag not found")."""
    if keep < 1:
        raise InstallError("--keep must be at least 1: the newest version always stays")
    _prepare(dags_folder, create=False)
    with _locked(dags_folder):
        found = inventory(dags_folder)
        candidates = []
        seen: dict[str, int] = {}
        for version in found.versions:
            seen[version.distribution] = seen.get(version.distribution, 0) + 1
            if seen[version.distribution] > keep:
                candidates.append(version)
        busy: set[str] = set()
        if candidates and not force and active is not None:
            busy = active([dag_id for version in candidates for dag_id in version.dag_ids])
        removed, kept = [], []
        for version in candidates:
            running = sorted(set(version.dag_ids) & busy)
            if running:
                kept.append((version, running))
                continue
            # Out of the DAGs folder first (one rename), then deleted.
            trash = Path(
                tempfile.mkdtemp(prefix=_trash_prefix(dags_folder), dir=dags_folder.parent)
            )
            os.rename(version.folder, trash / version.folder.name)
            _remove(trash)
            removed.append(version)
    return PruneReport(removed, kept, found.problems)


# -- the DAGs folder and what lives beside it --------------------------------------------------
def _prepare(dags_folder: Path, *, create: bool) -> None:
    if dags_folder.exists() and not dags_folder.is_dir():
        raise InstallError(
            f"--dags-folder {dags_folder} is a file; pass the scheduler's DAGs folder"
        )
    if not dags_folder.exists():
        if not create:
            raise InstallError(
                f"--dags-folder {dags_folder} does not exist; pass the folder the scheduler reads"
            )
        try:
            dags_folder.mkdir(parents=True)
        except OSError as error:
            raise InstallError(
                f"cannot create --dags-folder {dags_folder}: {error.strerror}"
            ) from None


def _beside(dags_folder: Path, prefix: str) -> Path:
    # Beside the DAGs folder, never in it: the scheduler must not parse a half-made version.
    return Path(tempfile.mkdtemp(prefix=prefix, dir=dags_folder.parent))


def _staging_prefix(dags_folder: Path) -> str:
    return f".{dags_folder.name}.processing-core-staging."


def _trash_prefix(dags_folder: Path) -> str:
    return f".{dags_folder.name}.processing-core-trash."


@contextmanager
def _locked(dags_folder: Path) -> Iterator[None]:
    """Hold the DAGs folder's lock; then clear what killed installs or prunes left beside it."""
    # In the DAGs folder (the scheduler parses only .py files and zip archives there), so
    # nothing of ours stays beside it.
    with exclusive_lock(dags_folder / LOCK):
        # Nobody else holds the lock, so anything staged or trashed beside it is stale.
        for prefix in (_staging_prefix(dags_folder), _trash_prefix(dags_folder)):
            for leftover in dags_folder.parent.glob(f"{glob.escape(prefix)}*"):
                _remove(leftover)
        yield


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


# -- swapping two folders in one step -------------------------------------------------------
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(new: Path, old: Path) -> None:
    """Swap `new` and `old` atomically (renameat2 RENAME_EXCHANGE, Linux 3.15+).

    Where the filesystem cannot, fall back to replacing file by file: every file is always
    there, old or new, and files the new version dropped go last.
    """
    try:
        _renameat2_exchange(new, old)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        _replace_file_by_file(new, old)


def _renameat2_exchange(a: Path, b: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    result = renameat2(
        _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE)
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(b))


def _replace_file_by_file(new: Path, old: Path) -> None:
    """Move `new`'s files over `old`'s (manifest last), drop the rest; `new` ends with the old."""
    names = sorted(entry.name for entry in new.iterdir())
    for name in [*(n for n in names if n != MANIFEST), *(n for n in names if n == MANIFEST)]:
        os.replace(new / name, old / name)
    for entry in old.iterdir():
        if entry.name not in names:
            os.replace(entry, new / entry.name)


def _installed_version(
    folder: Path, manifest: Manifest, outcome: str = "installed"
) -> InstalledVersion:
    return InstalledVersion(
        distribution=manifest.distribution.name,
        version=manifest.distribution.version,
        folder=folder,
        dag_ids=tuple(workflow.dag_id for workflow in manifest.workflows),
        outcome=outcome,
    )


def _sort_key(version: str) -> tuple[int, Any]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)
