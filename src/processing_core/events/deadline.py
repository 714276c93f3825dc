"""A time limit on a blocking call to the broker, whatever it waits for.

pika bounds connecting, but a connection that stalls once open (a broker that takes the
socket and never answers, or holds a publisher confirm) waits without end. A SIGALRM timer
interrupts any such wait. It needs the main thread (where `run-task` and the CLI run);
elsewhere the block runs without it, bounded by pika's own timeouts.

Every event passes through it, so it is cheap: the handler is installed once per process
(a SIGALRM that is not ours goes on to the handler it replaced), and each call only sets
and clears the timer.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class BrokerTimeout(Exception):
    """The broker did not answer within ISB_TIMEOUT_SECONDS."""


# What each armed deadline says when it expires, innermost last.
_armed: list[str] = []
_replaced: Any = signal.SIG_DFL


def _expire(signum: int, frame: FrameType | None) -> None:
    if _armed:
        raise BrokerTimeout(_armed[-1])
    if callable(_replaced):
        _replaced(signum, frame)


class deadline:
    """Raise BrokerTimeout in the block once `seconds` have passed."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.message = f"{what}: no answer from the broker within {seconds:g} s"
        self.active = False

    def __enter__(self) -> None:
        global _replaced
        if self.seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGALRM) is not _expire:
            _replaced = signal.signal(signal.SIGALRM, _expire)
        _armed.append(self.message)
        self.active = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            _armed.pop()
            self.active = False
