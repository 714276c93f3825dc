"""Events the broker did not confirm, kept on disk until they are delivered.

One file per event, named by its id and written atomically (temporary file, fsync, rename),
so a crash leaves either the whole event or nothing; delivering one twice is harmless, as
consumers drop duplicates by id.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class Outbox:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def put(self, event_id: str, routing_key: str, body: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{event_id}.{routing_key}.event"
        descriptor, staging = tempfile.mkstemp(prefix=".staging-", dir=self.folder)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, target)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
        return target

    def pending(self) -> Iterator[tuple[Path, str, str, bytes]]:
        """(path, event id, routing key, body) of each kept event, oldest first."""
        if not self.folder.is_dir():
            return
        paths = sorted(self.folder.glob("*.event"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        for path in paths:
            event_id, _, routing_key = path.name.removesuffix(".event").partition(".")
            try:
                body = path.read_bytes()
            except FileNotFoundError:  # delivered meanwhile by another process
                continue
            yield path, event_id, routing_key, body

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.event")) if self.folder.is_dir() else 0
