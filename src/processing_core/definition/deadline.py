"""When a run is late: `Workflow(deadline=...)`, rendered as Airflow's DeadlineAlert.

A deadline counts from the moment the run was queued (the default: what an operator means
by "the run should be done within two hours") or from its logical date (what a daily
product's consumers mean: "yesterday's data by 06:00"). When the run has not finished by
then, Airflow's scheduler marks the deadline missed and its triggerer calls
`processing_core.airflow_callbacks.run_late`, which publishes a `run.late` status event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

Since = Literal["queued", "logical_date"]
SINCE: tuple[str, ...] = get_args(Since)

# Airflow adds the interval to a timestamp in its scheduler: keep it far from overflowing,
# and from values nobody means (a deadline a year after the run started is a typo).
LONGEST = timedelta(days=366)
# DeadlineAlert.name is a String(250) column in Airflow's database.
NAME_MAX = 250


@dataclass(frozen=True)
class Deadline:
    """A run of the workflow is late when it has not finished `after` this long since it
    was queued (`since="queued"`) or since its logical date (`since="logical_date"`).

    `name` is what Airflow's Deadlines page and the `run.late` event call it (default e.g.
    "2h after queued"). A run without a logical date (a manual run triggered without one)
    has no logical-date deadline: Airflow skips it, saying so in the scheduler's log.
    """

    after: timedelta
    since: Since = "queued"
    name: str | None = None

    @property
    def label(self) -> str:
        """The name shown in Airflow and in events."""
        return self.name if self.name is not None else f"{_duration(self.after)} after {self.since}"

    def problems(self) -> list[str]:
        found = []
        after = self.after
        if not isinstance(after, timedelta) or isinstance(after, bool):
            found.append(f"deadline after={after!r} must be a timedelta, e.g. timedelta(hours=2)")
        elif not timedelta(seconds=1) <= after <= LONGEST:
            found.append(
                f"deadline after={after} must be from 1 second to {LONGEST.days} days; "
                "a run is late only some time after it starts"
            )
        elif after % timedelta(seconds=1):
            found.append(f"deadline after={after} must be whole seconds")
        if self.since not in SINCE:
            found.append(f"deadline since={self.since!r} must be one of {list(SINCE)}")
        name = self.name
        if name is not None and (
            not isinstance(name, str)
            or not name.strip()
            or len(name) > NAME_MAX
            or not name.isprintable()
        ):
            found.append(
                f"deadline name {name!r} must be printable text of 1 to {NAME_MAX} characters"
            )
        return found


def as_deadlines(value: object) -> tuple[object, ...]:
    """`Workflow(deadline=...)` as a tuple: one Deadline or timedelta, or a list of them."""
    if value is None:
        return ()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(value)
    return (value,)


def deadline_problems(deadlines: Sequence[object]) -> list[str]:
    """What is wrong with a workflow's deadlines, each naming the fix."""
    found: list[str] = []
    labels: set[str] = set()
    for deadline in deadlines:
        if isinstance(deadline, timedelta):
            deadline = Deadline(deadline)
        if not isinstance(deadline, Deadline):
            found.append(
                f"deadline {deadline!r} must be a timedelta (from when the run was queued) "
                "or Deadline(after, since='queued' | 'logical_date')"
            )
            continue
        problems = deadline.problems()
        found.extend(problems)
        if not problems and deadline.label in labels:
            found.append(
                f"two deadlines are both called {deadline.label!r}; give one a name= of its own"
            )
        labels.add(deadline.label)
    return found


def normalised(deadlines: Sequence[object]) -> tuple[Deadline, ...]:
    """The deadlines as Deadline objects (after deadline_problems found none)."""
    return tuple(d if isinstance(d, Deadline) else Deadline(d) for d in deadlines)  # type: ignore[arg-type]


def _duration(after: timedelta) -> str:
    """'2h', '1h 30min', '1d 6h', '45s': short, exact."""
    seconds = int(after.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"
