"""A versioned DAG bundle: one zip of DAG files and a manifest.json, reproducible to the byte."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processing_core._meta import library_version
from processing_core.build_utils.export import ExportResult
from processing_core.definition import naming
from processing_core.fileops import atomic_write
from processing_core.release.manifest import MANIFEST, MANIFEST_VERSION

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# Zip entries carry a timestamp; a fixed one keeps the same inputs the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]


def distribution_of(package: str) -> str:
    """The distribution that ships `package`, else the package's name as a distribution name."""
    top_level = package.partition(".")[0]
    names = metadata.packages_distributions().get(top_level, [])
    return names[0] if names else top_level.replace("_", "-")


def archive_name(distribution: str, version: str) -> str:
    return f"{distribution}-dags-{naming.image_tag(version)}.zip"


def build_manifest(
    results: Sequence[ExportResult],
    *,
    distribution: str,
    version: str,
    image: str | None,
    image_digest: str | None,
) -> dict[str, Any]:
    workflows = []
    for result in sorted(results, key=lambda r: r.dag_id):
        source = result.source.encode()
        workflows.append(
            {
                "name": result.workflow.name,
                "version": result.version,
                "dag_id": result.dag_id,
                "file": result.file_name,
                "sha256": hashlib.sha256(source).hexdigest(),
                # What Airflow will list (verify compares): a mapped node's list task too.
                "task_ids": list(result.task_ids),
                **({"image_extras": extras} if (extras := result.workflow.image_extras()) else {}),
            }
        )
    return {
        "manifest_version": MANIFEST_VERSION,
        "distribution": {"name": distribution, "version": version},
        "processing_core": library_version(),
        "airflow": _installed("apache-airflow"),
        "providers": {
            name: _installed(name)
            for name in (
                "apache-airflow-providers-cncf-kubernetes",
                "apache-airflow-providers-apache-spark",
            )
        },
        "image": {"reference": image, "digest": image_digest},
        "workflows": workflows,
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def write_bundle(
    results: Sequence[ExportResult],
    manifest: dict[str, Any],
    out_dir: Path,
    signing_key: Ed25519PrivateKey | None = None,
) -> Bundle:
    """Write the archive atomically (a reader never sees half of it) and return it; with a
    `signing_key`, signed (release/signing.py: the signature is deterministic too)."""
    distribution = manifest["distribution"]
    path = out_dir / archive_name(distribution["name"], distribution["version"])
    entries = {result.file_name: result.source.encode() for result in results}
    entries[MANIFEST] = manifest_bytes(manifest)
    if signing_key is not None:
        from processing_core.release.signing import SIGNATURE, sign_manifest

        entries[SIGNATURE] = sign_manifest(entries[MANIFEST], signing_key)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())
    return Bundle(path=path, manifest=manifest)


def _installed(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
