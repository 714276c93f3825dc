"""The suite's own helpers: a wait for long work fails when the work stands still, not at a
fixed time; a stopped server that ignores SIGTERM is killed, children and all."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time

import pytest
from deployment import stop_group, wait_until


def test_a_wait_that_keeps_progressing_outlasts_its_timeout():
    counter = itertools.count()
    start = time.monotonic()
    # Each poll moves on; done at the 6th, long after 0.2 s.
    assert wait_until("six", lambda: next(counter) >= 5 and "done", timeout=0.2, every=0.1,
                      progress=lambda: time.monotonic()) == "done"  # fmt: skip
    assert time.monotonic() - start >= 0.4


def test_a_wait_that_stands_still_fails_naming_what_and_where_it_stopped():
    with pytest.raises(AssertionError, match=r"the queue drained: not within 0.3 s with no "
                       r"progress \(last: \(5, 0\)\)"):  # fmt: skip
        wait_until("the queue drained", lambda: False, timeout=0.3, every=0.05,
                   progress=lambda: (5, 0))  # fmt: skip


def test_without_progress_the_timeout_is_fixed():
    with pytest.raises(AssertionError, match=r"^six: not within 0.2 s\n"):
        wait_until("six", lambda: False, timeout=0.2, every=0.05)


# Lives until it is killed: ignores SIGTERM (as a dag-processor that missed it) and has a
# child that waits for a signal too.
STUBBORN = """
import signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
print(child.pid, flush=True)
signal.pause()
"""


def test_a_process_that_ignores_sigterm_is_killed_with_its_children_after_the_grace():
    process = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)  # fmt: skip
    assert process.stdout is not None
    child = int(process.stdout.readline())
    stop_group(process, grace=0.5)
    assert process.returncode == -signal.SIGKILL
    wait_until("the child gone", lambda: not _alive(child), timeout=10)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
