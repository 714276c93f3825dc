"""SIGTERM and SIGINT during a task run: stop where the run can stop, wait where it must not.

Kubernetes and Airflow stop a task with SIGTERM (a person with Ctrl-C sends SIGINT). The run
then rolls back, writes its result and sends its final event before it exits, so the signal
raises `TaskTerminated` only inside `raising()` blocks (the task's own code, a wait on the
broker). Elsewhere (a rollback, writing the result) it is remembered and the run carries on.
One signal is enough: later ones are ignored, and Kubernetes' SIGKILL ends what must end.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TaskTerminated(BaseException):
    """A termination signal arrived; unwinds like a failure, but no `except Exception` stops it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"terminated by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        # 128 + the signal's number: the shell's convention for "terminated by signal N".
        return 128 + self.signum


class Termination:
    """Signal handling for one run (a context manager; the main thread only)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raising = False
        self._defer_when: Callable[[], bool] = lambda: False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Termination:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]

    @contextmanager
    def raising(self) -> Iterator[None]:
        """A block a signal arriving during it interrupts."""
        previous, self._raising = self._raising, True
        try:
            yield
        finally:
            self._raising = previous

    def check(self) -> None:
        """Raise TaskTerminated if a signal came while it could not interrupt."""
        if self.received is not None:
            raise TaskTerminated(self.received)

    def defer_while(self, predicate: Callable[[], bool]) -> None:
        """Within raising blocks, remember rather than raise while `predicate()` holds."""
        self._defer_when = predicate

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        if self._raising and not self._defer_when():
            raise TaskTerminated(signum)
