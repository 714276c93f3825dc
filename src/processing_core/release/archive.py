"""Reading a bundle archive safely: the one check `verify`, `install` and `publish` share.

`check_archive` looks without writing: the manifest is valid, the archive holds exactly the
files it lists (no more, no fewer, no duplicates; besides them only its signature), the sizes
its headers declare are within the limits, and, when keys are trusted, the manifest carries
a valid signature by one of them (release/signing.py). `extract_bundle` then writes exactly
the listed files into a folder, streaming each through a byte counter (headers can lie) and
a sha256 that must match the (signed) manifest. Nothing here executes a byte of the archive.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from processing_core.errors import ProcessingCoreError
from processing_core.fileops import UnsafePathError, child_path
from processing_core.release.manifest import MANIFEST, Manifest, parse_manifest
from processing_core.release.signing import MAX_SIGNATURE_BYTES, SIGNATURE, TrustedKeys

if TYPE_CHECKING:
    from processing_core.config import ReleaseSettings

_CHUNK = 1 << 16


class BundleError(ProcessingCoreError):
    """A bundle archive is unreadable or unsound; nothing was installed from it."""

    def __init__(self, source: Path, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"- {problem}" for problem in problems)
        super().__init__(
            f"{source} is not a sound processing-core bundle:\n{lines}\n"
            "Make bundles with `processing-core bundle`; refusing to use this one."
        )


@dataclass(frozen=True)
class BundleLimits:
    """How large a bundle may be once unpacked: a DAG file, and all files together."""

    max_file_bytes: int = 16 << 20
    max_total_bytes: int = 256 << 20

    @classmethod
    def from_settings(cls, settings: ReleaseSettings) -> BundleLimits:
        return cls(settings.bundle_max_file_bytes, settings.bundle_max_total_bytes)


def open_archive(path: Path) -> zipfile.ZipFile:
    """The zip at `path`; BundleError when it is missing or not a zip archive."""
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(path, [f"{path} does not exist"]) from None
    except IsADirectoryError:
        raise BundleError(path, [f"{path} is a folder, not a bundle archive"]) from None
    except (OSError, zipfile.BadZipFile, ValueError) as error:
        raise BundleError(path, [f"not a readable zip archive ({error})"]) from None


def check_archive(
    archive: zipfile.ZipFile,
    source: Path,
    limits: BundleLimits,
    trusted: TrustedKeys | None = None,
) -> Manifest:
    """The archive's manifest once every static check passed (and, with `trusted` keys, its
    signature); BundleError lists the rest."""
    problems: list[str] = []
    infos = archive.infolist()
    names = [info.filename for info in infos]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"{name!r} appears twice in the archive")
    for info in infos:
        if info.flag_bits & 0x1:
            problems.append(f"{info.filename!r} is encrypted")
        if info.file_size > limits.max_file_bytes:
            problems.append(
                f"{info.filename!r} unpacks to {info.file_size} bytes; the limit is "
                f"{limits.max_file_bytes} (BUNDLE_MAX_FILE_BYTES)"
            )
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        problems.append(
            f"the archive unpacks to {total} bytes; the limit is {limits.max_total_bytes} "
            "(BUNDLE_MAX_TOTAL_BYTES)"
        )
    if MANIFEST not in names:
        raise BundleError(source, [*problems, f"the archive has no {MANIFEST}"])
    if problems:
        raise BundleError(source, problems)
    with archive.open(MANIFEST) as member:
        data, _digest, _size = _read_capped(member, MANIFEST, limits.max_file_bytes, problems)
    signature = read_signature(archive, problems)
    if problems:
        raise BundleError(source, problems)
    # The signature first: nothing of an archive a trusted key did not sign is looked into.
    problems.extend((trusted or TrustedKeys()).problems(signature, data))
    if problems:
        raise BundleError(source, problems)
    manifest, manifest_problems = parse_manifest(data)
    problems.extend(manifest_problems)
    if manifest is None:
        raise BundleError(source, problems)
    listed = set(manifest.files)
    present = set(names) - {MANIFEST, SIGNATURE}
    for name in sorted(listed - present):
        problems.append(f"{name}: listed in the manifest but missing from the archive")
    for name in sorted(present - listed):
        problems.append(
            f"{name!r}: in the archive but not in the manifest (a bundle holds exactly the "
            "files its manifest lists)"
        )
    if problems:
        raise BundleError(source, problems)
    return manifest


def read_signature(archive: zipfile.ZipFile, problems: list[str]) -> bytes | None:
    """The bytes of the archive's signature.json (None when it has none)."""
    if SIGNATURE not in archive.namelist():
        return None
    with archive.open(SIGNATURE) as member:
        data, digest, _size = _read_capped(member, SIGNATURE, MAX_SIGNATURE_BYTES, problems)
    return data if digest is not None else None


def extract_bundle(
    path: Path, folder: Path, limits: BundleLimits, trusted: TrustedKeys | None = None
) -> Manifest:
    """Check the bundle at `path` and write exactly its listed files (and manifest) to `folder`.

    `folder` must exist and be empty; on BundleError it may hold part of the files, so the
    caller removes it (install stages it beside the DAGs folder for that reason). With
    `trusted` keys, a bundle they did not sign is refused before any file is written.
    """
    with open_archive(path) as archive:
        manifest = check_archive(archive, path, limits, trusted)
        problems: list[str] = []
        budget = limits.max_total_bytes
        for name, workflow in sorted(manifest.files.items()):
            try:
                target = child_path(folder, name, "manifest file")
            except UnsafePathError as error:  # unreachable after the manifest's own checks
                problems.append(str(error))
                continue
            with archive.open(name) as member, _create(target) as sink:
                _data, digest, size = _read_capped(
                    member, name, min(limits.max_file_bytes, budget), problems, sink
                )
            budget -= size
            if digest is not None and digest != workflow.sha256:
                problems.append(
                    f"{name}: sha256 {digest} does not match the manifest's {workflow.sha256}"
                )
        with archive.open(MANIFEST) as member, _create(folder / MANIFEST) as sink:
            _read_capped(member, MANIFEST, limits.max_file_bytes, problems, sink)
    if problems:
        raise BundleError(path, problems)
    return manifest


def _create(path: Path) -> IO[bytes]:
    # O_EXCL: never write through an entry that already exists (a link planted in the folder).
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb")


def _read_capped(
    member: IO[bytes],
    name: str,
    cap: int,
    problems: list[str],
    sink: IO[bytes] | None = None,
) -> tuple[bytes, str | None, int]:
    """Read a member through a counter: its bytes (unless streamed to `sink`), sha256, size.

    Stops and records a problem past `cap` bytes or on a corrupt member; the digest is then
    None.
    """
    digest = hashlib.sha256()
    kept = bytearray()
    size = 0
    try:
        while chunk := member.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                problems.append(f"{name!r} unpacks to more than {cap} bytes; refusing it")
                return b"", None, size
            digest.update(chunk)
            if sink is None:
                kept += chunk
            else:
                sink.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        problems.append(f"{name!r} is corrupt in the archive ({error})")
        return b"", None, size
    return bytes(kept), digest.hexdigest(), size
