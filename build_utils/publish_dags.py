"""Zip a folder of DAG files reproducibly and PUT the archive to an Artifactory-style URL.

python build_utils/publish_dags.py dist/dags --version 1.2.0 --url https://repo/dags
-> PUT https://repo/dags/dags-1.2.0.zip with X-Checksum-Sha256; ARTIFACTORY_TOKEN, if set,
   is sent as a bearer token and never printed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

# A fixed timestamp keeps the archive's bytes the same for the same files.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def build_archive(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.glob("*.py")):
            info = zipfile.ZipInfo(path.name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def publish(archive: bytes, url: str, token: str | None) -> int:
    request = urllib.request.Request(url, data=archive, method="PUT")
    request.add_header("Content-Type", "application/zip")
    request.add_header("X-Checksum-Sha256", hashlib.sha256(archive).hexdigest())
    request.add_header("X-Checksum-Sha1", hashlib.sha1(archive).hexdigest())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--version", required=True)
    parser.add_argument("--url", required=True, help="Repository folder URL.")
    args = parser.parse_args(argv)
    if not any(args.folder.glob("*.py")):
        print(f"error: no DAG files in {args.folder}; run export_dags.sh first", file=sys.stderr)
        return 1
    archive = build_archive(args.folder)
    target = f"{args.url.rstrip('/')}/dags-{args.version}.zip"
    try:
        status = publish(archive, target, os.environ.get("ARTIFACTORY_TOKEN"))
    except urllib.error.HTTPError as error:
        print(f"error: {target} answered {error.code} {error.reason}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"error: cannot reach {target}: {error.reason}", file=sys.stderr)
        return 1
    print(f"published {target} ({len(archive)} bytes, HTTP {status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
