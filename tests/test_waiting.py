"""The suite's wait for long work: it fails when the work stands still, not at a fixed time."""

from __future__ import annotations

import itertools
import time

import pytest
from deployment import wait_until


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
