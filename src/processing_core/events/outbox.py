"""Events the broker did not confirm, kept on disk until they are delivered.

One file per event, named by its id and kind and written atomically with fsync, so a crash
leaves either the whole event or nothing; delivering one twice is harmless, as consumers
drop duplicates by id. An entry that cannot be delivered as it is (a folder, a link, a file
this process cannot read, a body that is not a valid event) is moved to `quarantine/` with a
log line, never left to block the rest. Whoever delivers holds the outbox's lock, so two
deliveries never send the same event.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from processing_core.fileops import atomic_write, exclusive_lock

QUARANTINE = "quarantine"
_LOCK = ".lock"
_NAME = re.compile(r"^(?P<id>[A-Za-z0-9-]{1,64})\.(?P<kind>[a-z]+\.[a-z]+)\.event\Z")


class OutboxError(OSError):
    """The outbox folder cannot hold events (EVENTS_OUTBOX is a file, or not writable)."""


@dataclass(frozen=True)
class Entry:
    path: Path
    event_id: str
    routing_key: str
    body: bytes


class Outbox:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.quarantined = 0

    def put(self, event_id: str, routing_key: str, body: bytes) -> Path:
        name = f"{event_id}.{routing_key}.event"
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an outbox entry name")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not self.folder.is_dir():
                raise NotADirectoryError(20, "Not a directory", str(self.folder))
            target = self.folder / name
            atomic_write(target, body, fsync=True)
        except OSError as error:
            raise OutboxError(
                error.errno, f"the outbox {self.folder} cannot keep events: {error.strerror}"
            ) from None
        return target

    def lock(self, *, wait: bool) -> AbstractContextManager[bool]:
        """The delivery lock: yields False at once when another process delivers (wait=False)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return exclusive_lock(self.folder / _LOCK, wait=wait)

    def pending(self) -> Iterator[Entry]:
        """Each deliverable event, oldest first; anything else is quarantined on the way."""
        for path in self._entries():
            entry = self._read(path)
            if entry is not None:
                yield entry

    def __len__(self) -> int:
        return len(self._entries())

    # -- internals ----------------------------------------------------------------------------
    def _entries(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.glob("*.event"):
            try:
                found.append((path.lstat().st_mtime_ns, path.name, path))
            except FileNotFoundError:  # delivered meanwhile
                continue
        return [path for _, _, path in sorted(found)]

    def _read(self, path: Path) -> Entry | None:
        match = _NAME.fullmatch(path.name)
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return None
        if match is None:
            self._quarantine(path, "its name is not <event id>.<kind>.event")
            return None
        if not stat.S_ISREG(mode):
            self._quarantine(path, "it is not a regular file")
            return None
        try:
            # O_NOFOLLOW: a link planted under an event's name is never followed.
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(descriptor, "rb") as handle:
                body = handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            self._quarantine(path, f"it cannot be read ({error.strerror})")
            return None
        problem = _body_problem(body, match["id"], match["kind"])
        if problem:
            self._quarantine(path, problem)
            return None
        return Entry(path, match["id"], match["kind"], body)

    def _quarantine(self, path: Path, reason: str) -> None:
        target = self.folder / QUARANTINE / path.name
        try:
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
        except OSError as error:
            logger.error(
                "Outbox entry {} skipped: {}; it cannot be moved to {} either ({}): remove it",
                path, reason, target.parent, error.strerror,
            )  # fmt: skip
            return None
        self.quarantined += 1
        logger.error("Outbox entry {} quarantined in {}: {}", path.name, target.parent, reason)
        return None


def _body_problem(body: bytes, event_id: str, kind: str) -> str | None:
    from pydantic import ValidationError

    from processing_core.events.model import StatusEvent

    try:
        event = StatusEvent.model_validate_json(body)
    except ValidationError as error:
        return f"its body is not a status event ({error.error_count()} problem(s), first: " \
            f"{error.errors()[0]['msg']})"  # fmt: skip
    if event.event_id != event_id or event.kind.value != kind:
        return "its body's event_id or kind differs from its name"
    return None
