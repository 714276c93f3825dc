"""Run the chosen tasks of a workflow on this machine: each through `run-task` in a
subprocess (as in production), independent ones in parallel, results through the run folder.

A failed task stops only what depends on it; an interrupt (Ctrl-C, SIGTERM) sends SIGTERM to
the running tasks, which roll back and leave their result, and keeps the run resumable. The
run folder is held by one runner at a time (`RunFolder.lock`), its tasks end with the runner
(local/processes.py), and `run.json` says how each task ended, whatever stopped the run.
A task's parameters and inputs reach it as files of the run folder (`--parameters=@FILE`):
no value is too large for a command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from processing_core.definition.foreach import ForeachError, items_of, map_label, result_outputs
from processing_core.definition.node import TaskNode
from processing_core.definition.parameters import parameter_data
from processing_core.definition.workflow import Workflow
from processing_core.local.dates import RunDates
from processing_core.local.processes import RUNNER_PID_VARIABLE
from processing_core.local.processes import forget as forget_process
from processing_core.local.processes import record as record_process
from processing_core.local.run_folder import (
    FINISHED,
    RunFolder,
    TaskRecord,
    folder_name,
    instance_key,
    split_key,
)

# Upstream states that stop a task from running.
_BLOCKING = ("failed", "upstream_failed", "terminated", "not_run")
# Seconds a task gets to roll back after SIGTERM before it is killed.
TERMINATION_GRACE = 30.0


class Reporter(Protocol):
    """Told of every change, from the scheduling thread."""

    def started(self, task_id: str, record: TaskRecord) -> None: ...

    def finished(self, task_id: str, record: TaskRecord) -> None: ...


@dataclass
class LocalRun:
    workflow: Workflow
    folder: RunFolder
    edges: Mapping[str, Sequence[str]]
    to_run: Sequence[str]
    workers: int = 2
    python: str = sys.executable
    # (task id, pid) of the tasks an earlier runner left running, stopped before this run.
    stopped: Sequence[tuple[str, int]] = ()
    # What holds the run folder (its lock) until the run ends.
    hold: ExitStack = field(default_factory=ExitStack, repr=False)
    # A resumed run: an instance of a mapped node that finished on the same list is kept.
    reuse_instances: bool = False
    # Tasks run even when their complete() says the work is done (`run --force`).
    force: bool = False

    def close(self) -> None:
        """Let the run folder go (another runner may resume it now)."""
        self.hold.close()

    def execute(self, reporter: Reporter) -> None:
        """Run `to_run`, then let the folder go. KeyboardInterrupt (or any error of the runner
        itself) after the running tasks were stopped and every task's state recorded."""
        try:
            self._execute(reporter)
        finally:
            self.close()

    def _execute(self, reporter: Reporter) -> None:
        tasks = self.folder.summary.tasks
        for task_id in self.to_run:
            record = tasks.setdefault(task_id, TaskRecord())
            record.state, record.exit_code, record.message = "pending", None, ""
        self.folder.save()
        processes: dict[str, subprocess.Popen[bytes]] = {}
        lock = threading.Lock()
        # Task ids, and the keys of mapped nodes' instances (`task[3]`) once their list is known.
        pending = list(self.to_run)
        running: dict[Future[TaskRecord], str] = {}
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            try:
                while pending or running:
                    for key in list(pending):
                        task_id, index = split_key(key)
                        upstreams = [tasks[u].state for u in self.edges[task_id]]
                        if any(state in _BLOCKING for state in upstreams):
                            pending.remove(key)
                            self._finish(key, "upstream_failed", "an upstream task failed")
                            reporter.finished(key, tasks[key])
                        elif len(running) < self.workers and all(s in FINISHED for s in upstreams):
                            pending.remove(key)
                            node = self._node(task_id)
                            if node.foreach is not None and index is None:
                                # The list is known now: one instance per element.
                                instances = self._expand(node)
                                pending[:0] = instances
                                self._report_node(task_id, reporter, started=bool(instances))
                                continue
                            record = tasks[key]
                            record.state, record.try_number = "running", record.try_number + 1
                            self.folder.save()
                            reporter.started(key, record)
                            future = pool.submit(self._run_task, key, processes, lock)
                            running[future] = key
                    if not running:
                        continue
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        key = running.pop(future)
                        tasks[key] = future.result()
                        self.folder.save()
                        reporter.finished(key, tasks[key])
                        task_id, index = split_key(key)
                        if index is not None:
                            self._settle(task_id, reporter)
            except BaseException as error:  # Ctrl-C, SIGTERM, or the runner's own failure
                self._stop(processes, lock)
                for future, key in running.items():
                    tasks[key] = future.result()
                    reporter.finished(key, tasks[key])
                reason = (
                    "the run was interrupted"
                    if isinstance(error, KeyboardInterrupt)
                    else f"the runner stopped ({type(error).__name__}: {error})"
                )
                for key in pending:
                    self._finish(key, "not_run", reason)
                for task_id in self.to_run:  # a mapped node whose instances were cut short
                    if tasks[task_id].state == "running":
                        self._finish(task_id, "not_run", reason)
                self.folder.save()
                raise

    def _node(self, task_id: str) -> TaskNode:
        return self.workflow.node(task_id)

    def _expand(self, node: TaskNode) -> list[str]:
        """Record a mapped node's instances from its upstream's list; the keys to run (none
        when the list is empty or wrong: the node is then skipped or failed)."""
        assert node.foreach is not None
        tasks = self.folder.summary.tasks
        record = tasks[node.task_id]
        record.try_number += 1
        outputs = result_outputs(self.folder.result(node.foreach.task_id))
        try:
            items = items_of(outputs, node.foreach, node.task_id)
        except ForeachError as error:
            record.state, record.message = "failed", str(error)
            self.folder.save()
            return []
        digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]
        keep = self.reuse_instances and (record.items_digest, record.instances) == (
            digest,
            len(items),
        )
        record.instances, record.items_digest = len(items), digest
        for key in list(tasks):
            owner, index = split_key(key)
            if owner == node.task_id and index is not None and index >= len(items):
                del tasks[key]  # an instance of a longer list of an earlier try
        to_run = []
        for index, item in enumerate(items):
            key = instance_key(node.task_id, index)
            earlier = tasks.get(key)
            if keep and earlier is not None and earlier.state in FINISHED:
                continue
            label = map_label(item, index, node.foreach.map_index_template)
            tries = earlier.try_number if earlier is not None else 0
            tasks[key] = TaskRecord(state="pending", try_number=tries, label=label)
            to_run.append(key)
        if not items:
            record.state = "skipped"
            record.message = f"{node.foreach.reference} is empty: no instance ran"
        elif not to_run:
            self._settle_record(node.task_id)
        else:
            record.state = "running"
            record.message = f"{len(items)} instances of {node.foreach.reference}"
        self.folder.save()
        return to_run

    def _report_node(self, task_id: str, reporter: Reporter, *, started: bool) -> None:
        record = self.folder.summary.tasks[task_id]
        if started:
            reporter.started(task_id, record)
        else:
            reporter.finished(task_id, record)

    def _settle(self, task_id: str, reporter: Reporter) -> None:
        """A mapped node ends when its last instance does."""
        if self._settle_record(task_id):
            self.folder.save()
            reporter.finished(task_id, self.folder.summary.tasks[task_id])

    def _settle_record(self, task_id: str) -> bool:
        """End a mapped node whose instances all ended: failed if any did not succeed."""
        tasks = self.folder.summary.tasks
        record = tasks[task_id]
        count = record.instances or 0
        states = [tasks[instance_key(task_id, i)].state for i in range(count)]
        if any(state in ("pending", "running") for state in states):
            return False
        failed = [i for i, state in enumerate(states) if state not in FINISHED]
        record.state = "failed" if failed else "success"
        record.message = (
            f"instances {failed} of {count} did not succeed"
            if failed
            else f"{count} instances succeeded"
        )
        return True

    def _finish(self, task_id: str, state: str, message: str) -> None:
        record = self.folder.summary.tasks[task_id]
        record.state, record.message = state, message
        self.folder.save()

    def _run_task(
        self, key: str, processes: dict[str, subprocess.Popen[bytes]], lock: threading.Lock
    ) -> TaskRecord:
        """Run one task (or instance, `task[3]`) to its end: its record, never an exception (a
        task the runner could not even start is `failed`, saying why)."""
        record = self.folder.summary.tasks[key]
        started = time.monotonic()
        try:
            code, folder = self._run_process(key, record.try_number, processes, lock)
        except Exception as error:
            return TaskRecord(
                state="failed",
                try_number=record.try_number,
                message=f"the runner could not run it: {_reason(error)}",
                seconds=round(time.monotonic() - started, 3),
                label=record.label,
            )
        result = self.folder.result(key)
        # No result: it ended before it could write one; by SIGTERM (the runner's stop), or not.
        terminated = code in (-signal.SIGTERM, 128 + signal.SIGTERM)
        state = str(result.get("status", "failed")) if result else "failed"
        if result is None and terminated:
            state = "terminated"
        if code != 0 and state in FINISHED:
            state = "failed"
        message = str(result.get("message", "")) if result else ""
        if not message and state not in FINISHED:
            message = f"exit code {code}, no result; see {folder / 'log'}"
        return TaskRecord(
            state=state,
            try_number=record.try_number,
            exit_code=code,
            message=message,
            seconds=round(time.monotonic() - started, 3),
            label=record.label,
        )

    def _run_process(
        self,
        key: str,
        try_number: int,
        processes: dict[str, subprocess.Popen[bytes]],
        lock: threading.Lock,
    ) -> tuple[int, Path]:
        """Start `run-task` for the task (or instance), wait for it: its exit code and folder."""
        summary = self.folder.summary
        task_id, index = split_key(key)
        inputs = {upstream: self._upstream_result(upstream) for upstream in self.edges[task_id]}
        folder = self.folder.prepare_task(key, summary.parameters, inputs).resolve()
        node = self._node(task_id)
        parameters = f"@{folder / 'parameters.json'}"
        mapped = (
            [f"--map-index={index}", f"--foreach={json.dumps(node.foreach.data())}"]
            if node.foreach is not None and index is not None
            else []
        )
        command = [
            self.python, "-m", "processing_core", "run-task", node.task_class.import_path(),
            f"--workflow-name={summary.workflow}", f"--workflow-version={summary.version}",
            f"--dag-id={summary.dag_id}", f"--task-id={task_id}", f"--run-id={summary.run_id}",
            f"--try-number={try_number}", f"--parameters={parameters}",
            f"--declared-parameters={json.dumps(parameter_data(self.workflow.parameters))}",
            f"--inputs=@{folder / 'inputs.json'}", f"--conf={parameters}",
            f"--result-path={folder / 'result.json'}", *mapped,
            *RunDates.from_data(summary.dates).arguments(), *(["--force"] if self.force else []),
        ]  # fmt: skip
        # A log is for people: human lines unless the environment asks otherwise. The task
        # ends with this runner (processes.die_with_runner).
        env = {"LOG_FORMAT": "human", **os.environ, RUNNER_PID_VARIABLE: str(os.getpid())}
        with open(folder / "log", "wb") as log:
            with lock:
                process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, start_new_session=True,  # Ctrl-C reaches the runner, not the task
                )  # fmt: skip
                processes[key] = process
                # Without the pid file --resume cannot find a survivor; the task runs all the same.
                with suppress(OSError):
                    record_process(folder, process.pid)
            try:
                code = process.wait()
            finally:
                with lock:
                    processes.pop(key, None)
                forget_process(folder)
        return code, folder

    def _upstream_result(self, task_id: str) -> Any:
        """What a task gets of an upstream: its result, or for a mapped one the list of its
        instances' results in map order."""
        record = self.folder.summary.tasks.get(task_id)
        if self._node(task_id).foreach is None or record is None:
            return self.folder.result(task_id)
        return [
            self.folder.result(instance_key(task_id, index)) or {}
            for index in range(record.instances or 0)
        ]

    @staticmethod
    def _stop(processes: dict[str, subprocess.Popen[bytes]], lock: threading.Lock) -> None:
        with lock:
            running = list(processes.values())
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # the task rolls back and leaves its result
        deadline = time.monotonic() + TERMINATION_GRACE
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return f"{type(error).__name__}: {error}"


def failed_tasks(folder: RunFolder) -> list[tuple[str, TaskRecord, Path]]:
    """(task id, record, log path) of every task that did not finish, in run order."""
    return [
        (key, record, folder.path / folder_name(key) / "log")
        for key, record in folder.summary.tasks.items()
        if record.state not in FINISHED
    ]
