"""GETs from the artifact repository that cannot stall or flood the process that makes them.

The dag-processor refreshes every DAG bundle in one loop, holding the bundle's lock: a
repository that answers slowly, a byte at a time, or without end must cost a refresh bounded
time and memory. `requests`' timeouts count per read (a server dripping a byte every few
seconds never trips them), so each GET here runs under one asyncio deadline, which cancels
whatever it waits for (connecting, the headers, the next chunk of the body) and closes the
connection. A body streams to a file (or a bounded buffer) through a byte counter and a
sha256, and stops at the first byte past its bound: a 400 MiB answer costs a 64 KiB buffer.

httpx is Airflow's own HTTP client (the Task SDK's), so this module adds no dependency on
the Airflow side, where it runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

# Artifactory may redirect a download (to a CDN or object store); a few hops at most.
MAX_REDIRECTS = 5


class FetchError(OSError):
    """The repository did not answer in time or as it should: worth trying again later."""


class TooLargeError(ValueError):
    """The answer is larger than its bound: refused (the same file will not shrink)."""


@dataclass(frozen=True)
class Fetched:
    size: int
    sha256: str


def fetch_bytes(url: str, *, max_bytes: int, seconds: float, auth: Any = None) -> bytes:
    """The body of `url`, at most `max_bytes`, within `seconds` from connecting to the end."""
    buffer = io.BytesIO()
    fetch_to(url, buffer, max_bytes=max_bytes, seconds=seconds, auth=auth)
    return buffer.getvalue()


def fetch_to(
    url: str,
    sink: IO[bytes],
    *,
    max_bytes: int,
    seconds: float,
    auth: Any = None,
    deadline_setting: str = "BUNDLE_FETCH_SECONDS",
) -> Fetched:
    """Stream the body of `url` into `sink`: its size and sha256. FetchError when it does not
    arrive whole within `seconds` (the message names `deadline_setting`, which set them);
    TooLargeError past `max_bytes` (what was written is then the caller's to discard)."""
    fetching = _fetch(url, sink, max_bytes=max_bytes, seconds=seconds, auth=auth)
    try:
        return _run(fetching)
    except TimeoutError:
        raise FetchError(
            f"GET {url}: no complete answer within {round(seconds, 1):g} s ({deadline_setting})"
        ) from None


async def _fetch(
    url: str, sink: IO[bytes], *, max_bytes: int, seconds: float, auth: Any
) -> Fetched:
    import httpx

    digest = hashlib.sha256()
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async with (
                httpx.AsyncClient(
                    auth=auth,
                    # The bytes as stored: the checksum is the file's, and no compressed answer
                    # can inflate past the bound.
                    headers={"Accept-Encoding": "identity"},
                    timeout=httpx.Timeout(seconds),
                    follow_redirects=True,
                    max_redirects=MAX_REDIRECTS,
                ) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise FetchError(f"GET {url} answered {response.status_code}")
                encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
                if encoding not in ("", "identity"):
                    raise FetchError(
                        f"GET {url} answered in Content-Encoding {encoding[:40]!r}, though "
                        "asked for the file as stored"
                    )
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise TooLargeError(
                        f"{url} is {int(declared)} bytes, more than the {max_bytes} bytes allowed"
                    )
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLargeError(f"{url} is more than the {max_bytes} bytes allowed")
                    digest.update(chunk)
                    sink.write(chunk)
    except httpx.HTTPError as error:
        raise FetchError(f"GET {url}: {type(error).__name__}") from None
    return Fetched(size=size, sha256=digest.hexdigest())


def _run(coroutine: Any) -> Any:
    """Run a coroutine to its end from synchronous code (Airflow calls bundles so)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from inside an event loop: run it in a thread (and loop) of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
