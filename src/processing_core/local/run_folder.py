"""A local run's folder: `run.json` (the run and each task's state) and, per task, its
`parameters.json`, `inputs.json`, `result.json` and `log` (with earlier tries' logs kept as
`log.<try>`). Everything is written atomically: a run stopped at any moment resumes."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processing_core.errors import LocalRunError
from processing_core.fileops import atomic_write, exclusive_lock, lock_holder

SUMMARY = "run.json"
# Held by the runner using the folder (fileops.exclusive_lock): one runner at a time.
LOCK = ".lock"
# States a task of a local run ends in; only `success` and `skipped` results are reused.
FINISHED = ("success", "skipped")


@dataclass
class TaskRecord:
    state: str = "pending"  # pending, running, success, skipped, failed, upstream_failed, ...
    try_number: int = 0
    exit_code: int | None = None
    message: str = ""
    seconds: float | None = None
    # A mapped node: how many instances its list made, and a digest of the list (a resumed
    # run reuses an instance's result only while the list is the same).
    instances: int | None = None
    items_digest: str = ""
    # An instance of a mapped node: its readable name (its element, or map_index_template).
    label: str = ""


def instance_key(task_id: str, map_index: int) -> str:
    """How run.json and the progress name instance `map_index` of a mapped node."""
    return f"{task_id}[{map_index}]"


def split_key(key: str) -> tuple[str, int | None]:
    """(task id, map index) of a key of run.json; the index is None for a whole task."""
    task_id, bracket, rest = key.partition("[")
    if bracket and rest.endswith("]") and rest[:-1].isdigit():
        return task_id, int(rest[:-1])
    return key, None


def folder_name(key: str) -> str:
    """The folder of a task, or of an instance (`process_frame.3`: no shell reads it as a
    pattern)."""
    task_id, index = split_key(key)
    return task_id if index is None else f"{task_id}.{index}"


@dataclass
class RunSummary:
    workflow: str
    version: str
    dag_id: str
    run_id: str
    parameters: dict[str, Any]
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    # The run's logical date, data interval and run type (local.dates.RunDates.data()); empty
    # for a run without dates (and in the run.json of earlier releases).
    dates: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


class RunFolder:
    """The folder of one run of one workflow version."""

    def __init__(self, path: Path, summary: RunSummary) -> None:
        self.path = path
        self.summary = summary

    @classmethod
    def create(cls, root: Path, summary: RunSummary) -> RunFolder:
        """A new folder `root/<dag_id>/<run_id>/` (never an existing one)."""
        base = root / summary.dag_id
        base.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            run_id = summary.run_id + (f"_{attempt}" if attempt else "")
            path = base / run_id
            try:
                path.mkdir()
            except FileExistsError:
                continue
            summary.run_id = run_id
            folder = cls(path, summary)
            folder.save()
            return folder
        raise LocalRunError(f"cannot create a run folder in {base}: too many runs this second")

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """An earlier run's folder, to resume; LocalRunError says what is wrong with it."""
        try:
            data = json.loads((path / SUMMARY).read_text(encoding="utf-8"))
            tasks = {key: TaskRecord(**record) for key, record in data.pop("tasks").items()}
            summary = RunSummary(**data, tasks=tasks)
        except FileNotFoundError:
            raise LocalRunError(
                f"--resume {path}: no {SUMMARY} there; give the folder of an earlier run, "
                "e.g. runs/<dag_id>/<run_id>"
            ) from None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise LocalRunError(f"--resume {path}: {SUMMARY} cannot be read ({error})") from None
        return cls(path, summary)

    def save(self) -> None:
        atomic_write(self.path / SUMMARY, self.summary.to_json().encode())

    def task_folder(self, task_id: str) -> Path:
        folder = self.path / folder_name(task_id)
        folder.mkdir(exist_ok=True)
        return folder

    def result(self, task_id: str) -> dict[str, Any] | None:
        """The recorded result document of a task (or instance key), or None."""
        path = self.path / folder_name(task_id) / "result.json"
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def prepare_task(
        self, task_id: str, parameters: dict[str, Any], inputs: dict[str, Any]
    ) -> Path:
        """Write the task's parameters and inputs, set its earlier log and result aside; return
        the task's folder (`parameters.json`, `inputs.json`, `result.json`, `log`)."""
        folder = self.task_folder(task_id)
        record = self.summary.tasks.setdefault(task_id, TaskRecord())
        log = folder / "log"
        if log.exists() and record.try_number > 1:  # the try starting now is try_number
            os.replace(log, folder / f"log.{record.try_number - 1}")
        (folder / "result.json").unlink(missing_ok=True)
        for name, value in (("parameters.json", parameters), ("inputs.json", inputs)):
            text = json.dumps(value, indent=2, sort_keys=True) + "\n"
            atomic_write(folder / name, text.encode())
        return folder

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one runner: LocalRunError names the runner holding it."""
        path = self.path / LOCK
        holder = (
            f"pid {os.getpid()} on {socket.gethostname()}, since "
            f"{datetime.now(UTC).isoformat(timespec='seconds')}"
        )
        with exclusive_lock(path, wait=False, holder=holder) as held:
            if not held:
                raise LocalRunError(
                    f"{self.path} is in use by another `processing-core run` "
                    f"({lock_holder(path) or 'holder unknown'}); wait for it to end, or stop it"
                )
            yield


def new_run_id(now: datetime | None = None, *, logical_date: datetime | None = None,
               run_type: str = "manual") -> str:  # fmt: skip
    """`local__<UTC time>` (a run with a logical date: that date; a backfill's run:
    `backfill__<date>`): sortable, and a plain folder name."""
    moment = (logical_date or now or datetime.now(UTC)).astimezone(UTC)
    prefix = "backfill" if run_type == "backfill" else "local"
    return f"{prefix}__{moment.strftime('%Y%m%dT%H%M%SZ')}"
