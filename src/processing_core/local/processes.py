"""The task processes of a local run, tied to the runner's life.

Each task runs `run-task` in a session of its own (so Ctrl-C reaches the runner, which stops
the tasks in order). Should the runner die without doing so (SIGKILL, a crash, the machine's
OOM killer), its tasks must not run on unseen:

- on Linux each task asks the kernel for SIGTERM when the runner ends (PR_SET_PDEATHSIG, set
  by `run-task` itself when RUNNER_PID_VARIABLE names its runner), so it rolls back, writes
  its result and exits;
- every task's folder holds a `pid` file while it runs (its pid and start time, so a reused
  pid is never taken for it); `--resume` stops whatever still runs there, and waits for it,
  before it runs anything, so no task ever runs twice at once or rewrites a later try's result.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from processing_core.fileops import atomic_write

PID_FILE = "pid"
# Set by the runner in each task's environment; `run-task` asks to die with it.
RUNNER_PID_VARIABLE = "PROCESSING_CORE_RUNNER_PID"
_PR_SET_PDEATHSIG = 1


def start_time(pid: int) -> str | None:
    """When the process `pid` started (clock ticks since boot, from /proc), None when it does
    not exist or has ended (or this is no Linux: then only whether it exists)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _exists(pid)
    # The command name (field 2) may hold spaces and parentheses: count from the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # field 3, the state: it has ended (a zombie, or dead)
        return None
    return fields[19]  # field 22: starttime


def _exists(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return "unknown"


def record(task_folder: Path, pid: int) -> None:
    """Note that `pid` runs the task of `task_folder`."""
    document = {"pid": pid, "start": start_time(pid), "runner": os.getpid()}
    atomic_write(task_folder / PID_FILE, json.dumps(document).encode())


def forget(task_folder: Path) -> None:
    (task_folder / PID_FILE).unlink(missing_ok=True)


def stop_survivors(run_folder: Path, grace: float) -> list[tuple[str, int]]:
    """Stop the task processes an earlier runner of `run_folder` left running (SIGTERM to the
    task's process group, SIGKILL after `grace` seconds) and wait until they are gone.
    Returns (task id, pid) of each one stopped."""
    found = []
    for pid_file in sorted(run_folder.glob(f"*/{PID_FILE}")):
        try:
            document = json.loads(pid_file.read_text())
            pid, started = int(document["pid"]), document.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            pid_file.unlink(missing_ok=True)  # unreadable: nothing can be done with it
            continue
        now = start_time(pid)
        if now is not None and (started is None or now in (started, "unknown")):
            found.append((pid_file.parent.name, pid))
        else:
            pid_file.unlink(missing_ok=True)  # ended long ago (or the pid is another's now)
    for _, pid in found:
        _signal_group(pid, signal.SIGTERM)  # the task rolls back and leaves its result
    deadline = time.monotonic() + grace
    for task_id, pid in found:
        while start_time(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if start_time(pid) is not None:
            _signal_group(pid, signal.SIGKILL)
            while start_time(pid) is not None and time.monotonic() < deadline + 10:
                time.sleep(0.05)
        forget(run_folder / task_id)
    return found


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the task's session: run-task and whatever it started
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, signum)


def die_with_runner() -> None:
    """In `run-task`: when a local runner started it, end (SIGTERM) when that runner ends.

    Linux only (elsewhere `--resume` stops survivors). If the runner is gone already, the
    signal comes at once."""
    runner = os.environ.get(RUNNER_PID_VARIABLE, "")
    if not runner.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != int(runner):  # the runner ended before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
