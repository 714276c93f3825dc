"""The library's own version, looked up only when asked for (importlib.metadata is slow)."""

from __future__ import annotations

from functools import cache


@cache
def library_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("processing-core")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
