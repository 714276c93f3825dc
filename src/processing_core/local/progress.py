"""What a local run shows while it runs: a live table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from processing_core.local.run_folder import TaskRecord, instance_key

if TYPE_CHECKING:
    from rich.table import Table

_STYLE = {
    "success": "green",
    "skipped": "cyan",
    "failed": "red",
    "upstream_failed": "yellow",
    "terminated": "red",
    "not_run": "dim",
    "running": "bold blue",
}


class PlainProgress:
    """One line per change, for logs and CI."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def started(self, task_id: str, record: TaskRecord) -> None:
        if record.instances is not None:  # a mapped node: its list is known
            self._line(f"{task_id} mapped: {record.message}")
            return
        self._line(f"{_name(task_id, record)} started (try {record.try_number})")

    def finished(self, task_id: str, record: TaskRecord) -> None:
        took = f" in {record.seconds:.1f} s" if record.seconds is not None else ""
        self._line(f"{_name(task_id, record)} {record.state}{took}")

    def close(self) -> None:
        pass

    def _line(self, text: str) -> None:
        self.stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        self.stream.flush()


class LiveProgress:
    """A table of every task of the run, redrawn as they change (rich)."""

    def __init__(self, order: list[str], records: dict[str, TaskRecord]) -> None:
        from rich.live import Live

        self.order = order
        self.records = records
        self.live = Live(self._table(), refresh_per_second=8, transient=False)
        self.live.start()

    def started(self, task_id: str, record: TaskRecord) -> None:
        self.live.update(self._table())

    def finished(self, task_id: str, record: TaskRecord) -> None:
        self.live.update(self._table())

    def close(self) -> None:
        self.live.update(self._table())
        self.live.stop()

    def _table(self) -> Table:
        from rich.table import Table

        table = Table("task", "state", "try", "seconds")
        for task_id in self.order:
            record = self.records.get(task_id, TaskRecord())
            self._row(table, task_id, record)
            # A mapped node's instances, under it, once its list is known.
            for index in range(record.instances or 0):
                key = instance_key(task_id, index)
                if key in self.records:
                    self._row(table, f"  [{index}] {self.records[key].label}", self.records[key])
        return table

    @staticmethod
    def _row(table: Table, name: str, record: TaskRecord) -> None:
        style = _STYLE.get(record.state, "")
        seconds = f"{record.seconds:.1f}" if record.seconds is not None else ""
        table.add_row(
            escape(name), f"[{style}]{record.state}[/]" if style else record.state,
            str(record.try_number or ""), seconds,
        )  # fmt: skip


def _name(key: str, record: TaskRecord) -> str:
    """A task's id; an instance's key with its readable name (`process_frame[3] a.fits`)."""
    return f"{key} {record.label}" if record.label else key


def escape(text: str) -> str:
    # An element's name is data: rich must not read `[...]` in it as markup.
    from rich.markup import escape as rich_escape

    return rich_escape(text)
