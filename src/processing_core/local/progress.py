"""What a local run shows while it runs: a live table on a terminal (running tasks with their
elapsed time), plain lines otherwise, each ending with the run's summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from processing_core.local.run_folder import TaskRecord, instance_key

if TYPE_CHECKING:
    from rich.console import Console
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
    """One line per change, for logs and CI; at the end, one line per task and the totals."""

    def __init__(
        self,
        order: list[str],
        records: dict[str, TaskRecord],
        stream: TextIO | None = None,
    ) -> None:
        self.order = order
        self.records = records
        self.stream = stream or sys.stdout
        self.began = time.monotonic()

    def started(self, task_id: str, record: TaskRecord) -> None:
        if record.instances is not None:  # a mapped node: its list is known
            self._line(f"{task_id} mapped: {record.message}")
            return
        self._line(f"{_name(task_id, record)} started (try {record.try_number})")

    def finished(self, task_id: str, record: TaskRecord) -> None:
        took = f" in {record.seconds:.1f} s" if record.seconds is not None else ""
        self._line(f"{_name(task_id, record)} {record.state}{took}")

    def close(self) -> None:
        width = max((len(task_id) for task_id in self.order), default=0)
        for task_id in self.order:
            record = self.records.get(task_id, TaskRecord())
            took = f"{record.seconds:8.1f} s" if record.seconds is not None else " " * 10
            detail = f"  {record.message}" if record.instances is not None else ""
            self.stream.write(f"  {task_id:<{width}}  {record.state:<15} {took}{detail}\n")
        self.stream.write(summary_line(self.order, self.records, self.began) + "\n")
        self.stream.flush()

    def _line(self, text: str) -> None:
        self.stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        self.stream.flush()


class LiveProgress:
    """A table of every task of the run, redrawn as they change (rich)."""

    def __init__(
        self, order: list[str], records: dict[str, TaskRecord], console: Console | None = None
    ) -> None:
        from rich.live import Live

        self.order = order
        self.records = records
        self.began = time.monotonic()
        # When each running task (or instance) started: its row counts the seconds.
        self.running_since: dict[str, float] = {}
        # Redrawn from the records at each refresh: a long task's time goes on counting.
        self.live = Live(
            get_renderable=self._table, refresh_per_second=4, transient=False, console=console
        )
        self.live.start()

    def started(self, task_id: str, record: TaskRecord) -> None:
        self.running_since[task_id] = time.monotonic()
        self.live.update(self._table())

    def finished(self, task_id: str, record: TaskRecord) -> None:
        self.live.update(self._table())

    def close(self) -> None:
        self.live.update(self._table())
        self.live.stop()
        self.live.console.print(summary_line(self.order, self.records, self.began))

    def _table(self) -> Table:
        from rich.table import Table

        table = Table("task", "state", "try", "seconds")
        for task_id in self.order:
            record = self.records.get(task_id, TaskRecord())
            self._row(table, task_id, task_id, record)
            # A mapped node's instances, under it, once its list is known.
            for index in range(record.instances or 0):
                key = instance_key(task_id, index)
                if key in self.records:
                    name = f"  [{index}] {self.records[key].label}"
                    self._row(table, key, name, self.records[key])
        return table

    def _row(self, table: Table, key: str, name: str, record: TaskRecord) -> None:
        style = _STYLE.get(record.state, "")
        if record.seconds is not None:
            seconds = f"{record.seconds:.1f}"
        elif record.state == "running" and key in self.running_since:
            seconds = f"{time.monotonic() - self.running_since[key]:.0f}…"
        else:
            seconds = ""
        table.add_row(
            escape(name), f"[{style}]{record.state}[/]" if style else record.state,
            str(record.try_number or ""), seconds,
        )  # fmt: skip


def summary_line(order: list[str], records: dict[str, TaskRecord], began: float) -> str:
    """`5 tasks in 12.3 s: 3 success, 1 failed, 1 upstream_failed`."""
    states = Counter(records.get(task_id, TaskRecord()).state for task_id in order)
    counts = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    return f"{len(order)} task(s) in {time.monotonic() - began:.1f} s: {counts}"


def _name(key: str, record: TaskRecord) -> str:
    """A task's id; an instance's key with its readable name (`process_frame[3] a.fits`)."""
    return f"{key} {record.label}" if record.label else key


def escape(text: str) -> str:
    # An element's name is data: rich must not read `[...]` in it as markup.
    from rich.markup import escape as rich_escape

    return rich_escape(text)
