"""The library's own version, without importing anything heavy."""

from __future__ import annotations

from importlib import metadata


def library_version() -> str:
    try:
        return metadata.version("processing-core")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
