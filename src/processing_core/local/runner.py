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
from typing import Protocol

from processing_core.definition.parameters import parameter_data
from processing_core.definition.workflow import Workflow
from processing_core.local.processes import RUNNER_PID_VARIABLE
from processing_core.local.processes import forget as forget_process
from processing_core.local.processes import record as record_process
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
    # (task id, pid) of the tasks an earlier runner left running, stopped before this run.
    stopped: Sequence[tuple[str, int]] = ()
    # What holds the run folder (its lock) until the run ends.
    hold: ExitStack = field(default_factory=ExitStack, repr=False)

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
            except BaseException as error:  # Ctrl-C, SIGTERM, or the runner's own failure
                self._stop(processes, lock)
                for future, task_id in running.items():
                    tasks[task_id] = future.result()
                    reporter.finished(task_id, tasks[task_id])
                reason = (
                    "the run was interrupted"
                    if isinstance(error, KeyboardInterrupt)
                    else f"the runner stopped ({type(error).__name__}: {error})"
                )
                for task_id in pending:
                    self._finish(task_id, "not_run", reason)
                self.folder.save()
                raise

    def _finish(self, task_id: str, state: str, message: str) -> None:
        record = self.folder.summary.tasks[task_id]
        record.state, record.message = state, message
        self.folder.save()

    def _run_task(
        self, task_id: str, processes: dict[str, subprocess.Popen[bytes]], lock: threading.Lock
    ) -> TaskRecord:
        """Run one task to its end: its record, never an exception (a task the runner could
        not even start is `failed`, saying why)."""
        record = self.folder.summary.tasks[task_id]
        started = time.monotonic()
        try:
            code, folder = self._run_process(task_id, record.try_number, processes, lock)
        except Exception as error:
            return TaskRecord(
                state="failed",
                try_number=record.try_number,
                message=f"the runner could not run it: {_reason(error)}",
                seconds=round(time.monotonic() - started, 3),
            )
        result = self.folder.result(task_id)
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
        )

    def _run_process(
        self,
        task_id: str,
        try_number: int,
        processes: dict[str, subprocess.Popen[bytes]],
        lock: threading.Lock,
    ) -> tuple[int, Path]:
        """Start `run-task` for the task, wait for it: its exit code and folder."""
        summary = self.folder.summary
        inputs = {upstream: self.folder.result(upstream) for upstream in self.edges[task_id]}
        folder = self.folder.prepare_task(task_id, summary.parameters, inputs).resolve()
        node = next(node for node in self.workflow.nodes if node.task_id == task_id)
        parameters = f"@{folder / 'parameters.json'}"
        command = [
            self.python, "-m", "processing_core", "run-task", node.task_class.import_path(),
            f"--workflow-name={summary.workflow}", f"--workflow-version={summary.version}",
            f"--dag-id={summary.dag_id}", f"--task-id={task_id}", f"--run-id={summary.run_id}",
            f"--try-number={try_number}", f"--parameters={parameters}",
            f"--declared-parameters={json.dumps(parameter_data(self.workflow.parameters))}",
            f"--inputs=@{folder / 'inputs.json'}", "--run-type=manual", f"--conf={parameters}",
            f"--result-path={folder / 'result.json'}",
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
                processes[task_id] = process
                # Without the pid file --resume cannot find a survivor; the task runs all the same.
                with suppress(OSError):
                    record_process(folder, process.pid)
            try:
                code = process.wait()
            finally:
                with lock:
                    processes.pop(task_id, None)
                forget_process(folder)
        return code, folder

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
        (task_id, record, folder.path / task_id / "log")
        for task_id, record in folder.summary.tasks.items()
        if record.state not in FINISHED
    ]
