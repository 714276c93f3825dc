"""Run the chosen tasks of a workflow on this machine: each through `run-task` in a
subprocess (as in production), independent ones in parallel, results through the run folder.

A failed task stops only what depends on it; an interrupt (Ctrl-C, SIGTERM) sends SIGTERM to
the running tasks, which roll back and leave their result, and keeps the run resumable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from processing_core.definition.parameters import parameter_data
from processing_core.definition.workflow import Workflow
from processing_core.local.run_folder import FINISHED, RunFolder, TaskRecord

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

    def execute(self, reporter: Reporter) -> None:
        """Run `to_run`; KeyboardInterrupt after the running tasks were stopped and recorded."""
        tasks = self.folder.summary.tasks
        for task_id in self.to_run:
            record = tasks.setdefault(task_id, TaskRecord())
            record.state, record.exit_code, record.message = "pending", None, ""
        self.folder.save()
        processes: dict[str, subprocess.Popen[bytes]] = {}
        lock = threading.Lock()
        pending = list(self.to_run)
        running: dict[Future[TaskRecord], str] = {}
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            try:
                while pending or running:
                    for task_id in list(pending):
                        upstreams = [tasks[u].state for u in self.edges[task_id]]
                        if any(state in _BLOCKING for state in upstreams):
                            pending.remove(task_id)
                            self._finish(task_id, "upstream_failed", "an upstream task failed")
                            reporter.finished(task_id, tasks[task_id])
                        elif len(running) < self.workers and all(s in FINISHED for s in upstreams):
                            pending.remove(task_id)
                            record = tasks[task_id]
                            record.state, record.try_number = "running", record.try_number + 1
                            self.folder.save()
                            reporter.started(task_id, record)
                            future = pool.submit(self._run_task, task_id, processes, lock)
                            running[future] = task_id
                    if not running:
                        continue
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        task_id = running.pop(future)
                        tasks[task_id] = future.result()
                        self.folder.save()
                        reporter.finished(task_id, tasks[task_id])
            except KeyboardInterrupt:
                self._stop(processes, lock)
                for future, task_id in running.items():
                    tasks[task_id] = future.result()
                    reporter.finished(task_id, tasks[task_id])
                for task_id in pending:
                    self._finish(task_id, "not_run", "the run was interrupted")
                self.folder.save()
                raise

    def _finish(self, task_id: str, state: str, message: str) -> None:
        record = self.folder.summary.tasks[task_id]
        record.state, record.message = state, message
        self.folder.save()

    def _run_task(
        self, task_id: str, processes: dict[str, subprocess.Popen[bytes]], lock: threading.Lock
    ) -> TaskRecord:
        record = self.folder.summary.tasks[task_id]
        summary = self.folder.summary
        inputs = {upstream: self.folder.result(upstream) for upstream in self.edges[task_id]}
        result_path, log_path = self.folder.prepare_task(task_id, summary.parameters, inputs)
        node = next(node for node in self.workflow.nodes if node.task_id == task_id)
        command = [
            self.python, "-m", "processing_core", "run-task", node.task_class.import_path(),
            f"--workflow-name={summary.workflow}", f"--workflow-version={summary.version}",
            f"--dag-id={summary.dag_id}", f"--task-id={task_id}", f"--run-id={summary.run_id}",
            f"--try-number={record.try_number}",
            f"--parameters={json.dumps(summary.parameters)}",
            f"--declared-parameters={json.dumps(parameter_data(self.workflow.parameters))}",
            f"--inputs={json.dumps(inputs)}", "--run-type=manual",
            f"--conf={json.dumps(summary.parameters)}", f"--result-path={result_path}",
        ]  # fmt: skip
        # A log is for people: human lines unless the environment asks otherwise.
        env = {"LOG_FORMAT": "human", **os.environ}
        started = time.monotonic()
        with open(log_path, "wb") as log:
            with lock:
                process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, start_new_session=True,  # Ctrl-C reaches the runner, not the task
                )  # fmt: skip
                processes[task_id] = process
            code = process.wait()
        with lock:
            processes.pop(task_id, None)
        result = self.folder.result(task_id)
        state = str(result.get("status", "failed")) if result else "failed"
        if code != 0 and state in FINISHED:
            state = "failed"
        message = str(result.get("message", "")) if result else ""
        if not message and state not in FINISHED:
            message = f"exit code {code}, no result; see {log_path}"
        return TaskRecord(
            state=state,
            try_number=record.try_number,
            exit_code=code,
            message=message,
            seconds=round(time.monotonic() - started, 3),
        )

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


def failed_tasks(folder: RunFolder) -> list[tuple[str, TaskRecord, Path]]:
    """(task id, record, log path) of every task that did not finish, in run order."""
    return [
        (task_id, record, folder.path / task_id / "log")
        for task_id, record in folder.summary.tasks.items()
        if record.state not in FINISHED
    ]
