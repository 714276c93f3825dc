"""The dates of a local run, as Airflow 3 gives them to a run of the workflow's DAG.

A manual run at a logical date D (`processing-core run --logical-date D`) gets the data
interval Airflow's trigger form gives it: the timetable's `infer_manual_data_interval(D)`.
A backfill (`--from-date A --to-date B`) is one run per schedule time T with A <= T <= B
whose interval has ended, as `airflow backfill create` makes them (run type `backfill`).

Airflow turns a cron schedule into a CronTriggerTimetable (every interval a point: start =
end = logical date) unless `[scheduler] create_cron_data_intervals` is true, when a
CronDataIntervalTimetable spans from one schedule time to the next. A local run reads the
same setting from AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS (default false, as in
Airflow 3). Cron times are computed in the time zone of the workflow's start_date (UTC
without one); Airflow's special handling of daylight-saving transitions is not reproduced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from processing_core.definition.assets import AssetsOrCron
from processing_core.errors import LocalRunError

if TYPE_CHECKING:
    from processing_core.definition.workflow import Workflow

# Airflow's cron presets (airflow.utils.dates.cron_presets).
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
DATA_INTERVALS_VARIABLE = "AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS"
# A backfill is sequential and local: more runs than this is almost surely a wrong range.
MAX_BACKFILL_RUNS = 1000


@dataclass(frozen=True)
class RunDates:
    """A run's dates and type; all None for a manual run without a logical date."""

    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    run_type: str = "manual"

    def context(self) -> dict[str, Any]:
        """RunContext's fields for these dates."""
        return {
            "logical_date": self.logical_date,
            "data_interval_start": self.data_interval_start,
            "data_interval_end": self.data_interval_end,
            "run_type": self.run_type,
        }

    def arguments(self) -> list[str]:
        """`run-task`'s options for these dates."""
        values = {
            "logical-date": self.logical_date,
            "data-interval-start": self.data_interval_start,
            "data-interval-end": self.data_interval_end,
        }
        given = [f"--{option}={value.isoformat()}" for option, value in values.items() if value]
        return [*given, f"--run-type={self.run_type}"]

    def data(self) -> dict[str, str | None]:
        """For run.json: ISO 8601 text."""
        return {
            "logical_date": _iso(self.logical_date),
            "data_interval_start": _iso(self.data_interval_start),
            "data_interval_end": _iso(self.data_interval_end),
            "run_type": self.run_type,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> RunDates:
        return cls(
            _parse(data.get("logical_date")),
            _parse(data.get("data_interval_start")),
            _parse(data.get("data_interval_end")),
            str(data.get("run_type") or "manual"),
        )


def parse_date(text: str, option: str) -> datetime:
    """An ISO 8601 date or date-time; without a time zone, UTC (as Airflow's CLI reads it)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LocalRunError(
            f"{option} {text!r} is not an ISO 8601 date or date-time, e.g. 2026-12-01 or "
            "2026-12-01T06:00:00+00:00"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def run_dates(workflow: Workflow, logical_date: datetime | str | None) -> RunDates:
    """The dates of a manual run of `workflow` at `logical_date` (None: no dates)."""
    if logical_date is None:
        return RunDates()
    if isinstance(logical_date, str):
        logical_date = parse_date(logical_date, "--logical-date")
    elif logical_date.tzinfo is None:
        logical_date = logical_date.replace(tzinfo=UTC)
    cron = _cron(workflow)
    if cron is not None and _data_intervals():
        # CronDataIntervalTimetable: the last complete interval before the date.
        end = _align_to_prev(cron, logical_date, _zone(workflow))
        start = _previous(cron, end, _zone(workflow))
        return RunDates(logical_date, start, end, "manual")
    return RunDates(logical_date, logical_date, logical_date, "manual")


def backfill_dates(workflow: Workflow, start: str, end: str) -> list[RunDates]:
    """One RunDates per schedule time between `start` and `end` (both included) whose
    interval has ended; LocalRunError when the workflow has no time schedule or the range
    holds no run or too many."""
    first, last = parse_date(start, "--from-date"), parse_date(end, "--to-date")
    if last < first:
        raise LocalRunError(f"--to-date {end} is before --from-date {start}")
    cron = _cron(workflow)
    if cron is None:
        raise LocalRunError(
            f"workflow {workflow.name!r} has no time schedule (schedule={workflow.schedule!r}), "
            "so it has no intervals to backfill; run one date with --logical-date instead"
        )
    now = datetime.now(UTC)
    intervals = _data_intervals()
    found: list[RunDates] = []
    for moment in _times(cron, first, _zone(workflow)):
        if moment > last:
            break
        following = _next(cron, moment, _zone(workflow)) if intervals else moment
        if following >= now:
            break  # Airflow backfills only intervals that have ended
        found.append(RunDates(moment, moment, following, "backfill"))
        if len(found) > MAX_BACKFILL_RUNS:
            raise LocalRunError(
                f"--from-date {start} --to-date {end} spans more than {MAX_BACKFILL_RUNS} runs "
                f"of schedule {cron!r}; backfill a shorter range at a time"
            )
    if not found:
        raise LocalRunError(
            f"no run of schedule {cron!r} falls between {first.isoformat()} and "
            f"{last.isoformat()} (with its interval ended); widen the range"
        )
    return found


def _cron(workflow: Workflow) -> str | None:
    """The workflow's cron expression, if its schedule is (or has) one that repeats."""
    schedule = workflow.schedule
    if isinstance(schedule, AssetsOrCron):
        schedule = schedule.cron
    if not isinstance(schedule, str) or schedule in ("@once", "@continuous"):
        return None
    return CRON_PRESETS.get(schedule, schedule)


def _data_intervals() -> bool:
    return os.environ.get(DATA_INTERVALS_VARIABLE, "false").strip().lower() in ("true", "1")


def _zone(workflow: Workflow) -> tzinfo:
    start = workflow.start_date
    return start.tzinfo if start is not None and start.tzinfo is not None else UTC


def _times(cron: str, start: datetime, zone: tzinfo) -> Iterator[datetime]:
    """The schedule's times from `start` on (`start` itself when it is one)."""
    from croniter import croniter

    local = start.astimezone(zone)
    if croniter.match(cron, local) and local.second == 0 and local.microsecond == 0:
        yield start.astimezone(UTC)
    iterator = croniter(cron, local)
    while True:
        yield iterator.get_next(datetime).astimezone(UTC)


def _next(cron: str, moment: datetime, zone: tzinfo) -> datetime:
    from croniter import croniter

    value: datetime = croniter(cron, moment.astimezone(zone)).get_next(datetime)
    return value.astimezone(UTC)


def _previous(cron: str, moment: datetime, zone: tzinfo) -> datetime:
    from croniter import croniter

    value: datetime = croniter(cron, moment.astimezone(zone)).get_prev(datetime)
    return value.astimezone(UTC)


def _align_to_prev(cron: str, moment: datetime, zone: tzinfo) -> datetime:
    """`moment` when it is a schedule time, else the schedule time before it (Airflow's
    CronMixin._align_to_prev)."""
    earlier = _previous(cron, moment, zone)
    return moment.astimezone(UTC) if _next(cron, earlier, zone) == moment else earlier


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
