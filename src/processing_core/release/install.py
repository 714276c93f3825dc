"""Install bundles into an Airflow DAGs folder, list installed versions, prune old ones.

Each version lives in its own folder, `<distribution>-<version>/`, made complete beside the
DAGs folder and renamed into it in one step: the scheduler sees all of a version or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from processing_core.definition import naming
from processing_core.errors import ProcessingCoreError
from processing_core.release.bundle import MANIFEST, read_manifest


class InstallError(ProcessingCoreError):
    """A bundle could not be installed; the DAGs folder is as it was."""


@dataclass(frozen=True)
class InstalledVersion:
    distribution: str
    version: str
    folder: Path
    dag_ids: tuple[str, ...]


def install_bundle(path: Path, dags_folder: Path) -> InstalledVersion:
    with zipfile.ZipFile(path) as archive:
        try:
            manifest = read_manifest(archive)
        except ValueError as error:
            raise InstallError(f"{path}: {error}") from None
        distribution = manifest["distribution"]
        name = f"{distribution['name']}-{naming.image_tag(distribution['version'])}"
        dags_folder.mkdir(parents=True, exist_ok=True)
        # Beside the DAGs folder, never in it: the scheduler must not parse a half-made version.
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dags_folder.parent))
        try:
            for member in sorted(archive.namelist()):
                _copy_member(archive, member, staging / member)
            _check(manifest, staging)
            target = dags_folder / name
            if target.exists():  # reinstalling a version: swap, then drop the old copy
                old = staging.with_name(staging.name + ".old")
                os.rename(target, old)
                os.rename(staging, target)
                shutil.rmtree(old)
            else:
                os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _installed(target)


def installed_versions(dags_folder: Path) -> list[InstalledVersion]:
    """Every installed version, by distribution, newest first."""
    versions = [
        _installed(folder)
        for folder in sorted(dags_folder.iterdir() if dags_folder.is_dir() else [])
        if (folder / MANIFEST).is_file()
    ]
    return sorted(versions, key=lambda v: (v.distribution, _sort_key(v.version)), reverse=True)


def prune(dags_folder: Path, keep: int) -> list[InstalledVersion]:
    """Remove all but the newest `keep` versions of each distribution; return the removed."""
    if keep < 1:
        raise InstallError("--keep must be at least 1: the newest version always stays")
    removed = []
    seen: dict[str, int] = {}
    for version in installed_versions(dags_folder):
        seen[version.distribution] = seen.get(version.distribution, 0) + 1
        if seen[version.distribution] > keep:
            # Out of the DAGs folder first (one rename), then deleted.
            doomed = Path(tempfile.mkdtemp(prefix=".pruned.", dir=dags_folder.parent))
            os.rename(version.folder, doomed / version.folder.name)
            shutil.rmtree(doomed)
            removed.append(version)
    return removed


def _copy_member(archive: zipfile.ZipFile, member: str, target: Path) -> None:
    if Path(member).name != member:
        raise InstallError(f"archive member {member!r} is not a plain file name")
    with archive.open(member) as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)


def _check(manifest: dict[str, Any], folder: Path) -> None:
    for workflow in manifest["workflows"]:
        data = (folder / workflow["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != workflow["sha256"]:
            raise InstallError(f"{workflow['file']}: checksum does not match the manifest")


def _installed(folder: Path) -> InstalledVersion:
    manifest = json.loads((folder / MANIFEST).read_text())
    return InstalledVersion(
        distribution=manifest["distribution"]["name"],
        version=manifest["distribution"]["version"],
        folder=folder,
        dag_ids=tuple(w["dag_id"] for w in manifest["workflows"]),
    )


def _sort_key(version: str) -> tuple[int, Any]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)
