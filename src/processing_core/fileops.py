"""Files written whole or not at all, names that stay inside their folder, and folder locks.

The one place for each of these jobs: results, bundles, the outbox, exports and installs all
use them, so a fix here is a fix everywhere. Standard library only (the pod imports it).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from processing_core.errors import ProcessingCoreError


class UnsafePathError(ProcessingCoreError, ValueError):
    """A name would lead out of the folder it is meant to stay in."""


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def default_file_mode() -> int:
    """The mode `open()` gives a new file under the current umask (mkstemp gives 0600)."""
    return 0o666 & ~_umask()


def default_folder_mode() -> int:
    """The mode `mkdir()` gives a new folder under the current umask (mkdtemp gives 0700)."""
    return 0o777 & ~_umask()


def atomic_write(path: Path, data: bytes, *, fsync: bool = False, mode: int | None = None) -> None:
    """Write `data` to `path` through a temporary file beside it, renamed into place.

    A reader sees the old file or the new one, never half of one; on any failure (disk full,
    a signal) the temporary file is removed and `path` is as it was. `fsync` makes the data
    durable before the rename (for what must survive a crash, like events). The file gets
    `mode`, by default what `open()` would give it.
    """
    descriptor, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(staging, default_file_mode() if mode is None else mode)
        os.replace(staging, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(staging)
        raise


def child_path(folder: Path, name: str, what: str = "name") -> Path:
    """`folder / name` for a plain name that cannot leave `folder`; UnsafePathError otherwise.

    Refuses separators, `.`/`..`, NUL and control characters, and an existing entry that is a
    link leading elsewhere.
    """
    if (
        not isinstance(name, str)
        or name in {"", ".", ".."}
        or any(mark in name for mark in ("/", "\\", "\0"))
        or any(ord(character) < 32 for character in name)
        or Path(name).name != name
    ):
        raise UnsafePathError(f"{what} {name!r} is not a plain file name inside {folder}")
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise UnsafePathError(f"{what} {name!r} leads outside {folder}")
    return path


@contextmanager
def exclusive_lock(path: Path, *, wait: bool = True, holder: str | None = None) -> Iterator[bool]:
    """Hold an exclusive advisory lock on the file `path` (created if missing).

    Yields True once held; with `wait=False`, yields False at once when another process
    holds it. Released when the block ends, or by the kernel when the process dies, so a
    killed holder never leaves it taken. `holder` (who holds it, for people) is written into
    the file once held: `lock_holder` reads it for the one that has to wait.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        if holder is not None:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, holder.encode()[:_HOLDER_BYTES], 0)
        yield True
    finally:
        os.close(descriptor)


_HOLDER_BYTES = 1024


def lock_holder(path: Path) -> str:
    """What the holder of the lock at `path` wrote of itself ("" when nothing can be read)."""
    try:
        with open(path, "rb") as file:
            return file.read(_HOLDER_BYTES).decode("utf-8", "replace").strip()
    except OSError:
        return ""
