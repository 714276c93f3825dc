"""A time limit on a blocking call to the broker, whatever it waits for.

pika bounds connecting, but a connection that stalls once open (a broker that takes the
socket and never answers, or holds a publisher confirm) waits without end. A SIGALRM timer
interrupts any such wait. It needs the main thread (where `run-task` and the CLI run);
elsewhere the block runs without it, bounded by pika's own timeouts.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class BrokerTimeout(Exception):
    """The broker did not answer within ISB_TIMEOUT_SECONDS."""


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise BrokerTimeout in the block once `seconds` have passed."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise BrokerTimeout(f"{what}: no answer from the broker within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
