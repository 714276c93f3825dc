"""What `processing-core run` shows: a running task's elapsed time on a terminal (a long
Spark step does not look hung), and the run's summary at the end, on a terminal or not."""

from __future__ import annotations

import io
import time

from rich.console import Console

from processing_core.local.progress import LiveProgress, PlainProgress
from processing_core.local.run_folder import TaskRecord


def test_a_running_task_counts_its_seconds_and_the_table_ends_with_the_summary():
    records = {"ingest": TaskRecord(state="success", try_number=1, seconds=1.5),
               "spark_step": TaskRecord(state="running", try_number=1)}  # fmt: skip
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    progress = LiveProgress(["ingest", "spark_step", "publish"], records, console=console)
    progress.started("spark_step", records["spark_step"])
    progress.running_since["spark_step"] = time.monotonic() - 138.4
    progress.close()
    shown = screen.getvalue()
    row = next(line for line in shown.splitlines() if "spark_step" in line)
    assert "running" in row and "138…" in row
    assert "3 task(s) in" in shown and "1 pending, 1 running, 1 success" in shown


def test_plain_output_ends_with_one_line_per_task_and_the_totals():
    records: dict[str, TaskRecord] = {}
    stream = io.StringIO()
    progress = PlainProgress(["extract", "transform", "load"], records, stream=stream)
    records["extract"] = TaskRecord(state="success", try_number=1, seconds=0.8)
    progress.finished("extract", records["extract"])
    records["transform"] = TaskRecord(state="failed", try_number=1, seconds=2.25)
    progress.finished("transform", records["transform"])
    records["load"] = TaskRecord(state="upstream_failed")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[-4:-1] == [
        "  extract    success              0.8 s",
        "  transform  failed               2.2 s",
        "  load       upstream_failed           ",
    ]
    assert lines[-1].startswith("3 task(s) in ")
    assert lines[-1].endswith(": 1 failed, 1 success, 1 upstream_failed")
