"""What Airflow's triggerer calls when a run misses a deadline of its workflow: `run_late`,
named in DAG files as `processing_core.airflow_callbacks.run_late` (public API).

Airflow's scheduler marks a deadline missed once its time has passed and the run has not
succeeded (a run that succeeds in time deletes its deadlines), and queues the DeadlineAlert's
AsyncCallback; the triggerer awaits it with a small context: the run as the REST API shows
it (`dag_run`) and the deadline (`deadline`: id and time). Standard library only at import,
as the module that names it (asyncio too is imported when a deadline is missed).

A run that failed before its deadline is not late: `run.failed` told its consumers when it
happened, so neither the event nor the team's callback is sent for it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_log = logging.getLogger(__name__)

# event_id = uuid5(this, deadline id): a callback Airflow runs twice (a triggerer restarted
# mid-call) publishes the same event twice, which consumers drop by event_id.
_EVENT_IDS = uuid.UUID("6f1c3f4e-8a0b-5d7e-9a43-2b1c0de1a7e5")


async def run_late(
    context: Mapping[str, Any] | None = None,
    *,
    workflow_name: str,
    workflow_version: str,
    deadline_name: str,
    team_callback: str | None = None,
) -> str:
    """Publish `run.late` for the run in `context`, then call the team's DEADLINE_CALLBACK
    (plain or async) with the same context. What Airflow records as the callback's result:
    one line saying what was done. Never raises: a broken broker keeps the event in the
    outbox, a broken team callback is logged."""
    context = context or {}
    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    due = _when(deadline.get("deadline_time"))
    ended = _when(dag_run.get("end_date"))
    run = f"{dag_run.get('dag_id')} {dag_run.get('dag_run_id')}"
    if ended is not None and due is not None and ended <= due:
        message = (
            f"run {run} ended ({dag_run.get('state')}) at {ended.isoformat()}, before its "
            f"deadline {deadline_name!r} at {due.isoformat()}: not late"
        )
        _log.info("processing-core: %s", message)
        return message
    import asyncio

    try:
        # pika blocks: in a thread of its own, so the triggerer's other triggers go on.
        event_id = await asyncio.to_thread(
            _publish, dag_run, deadline, due, workflow_name, workflow_version, deadline_name
        )
    except Exception:  # the team's callback still runs
        _log.exception("processing-core could not publish the run.late event of %s", run)
        event_id = None
    done = f"run.late {event_id}" if event_id else "run.late not published (events off)"
    if team_callback:
        done += "; " + await _call_team(team_callback, dict(context))
    return done


def _publish(
    dag_run: Mapping[str, Any],
    deadline: Mapping[str, Any],
    due: datetime | None,
    workflow_name: str,
    workflow_version: str,
    deadline_name: str,
) -> str | None:
    from processing_core.airflow.callback_support import publish_event

    def event() -> Any:
        from processing_core.events.model import EventDeadline, EventKind, StatusEvent

        identity: dict[str, Any] = {}
        if deadline.get("id"):
            identity["event_id"] = str(uuid.uuid5(_EVENT_IDS, str(deadline["id"])))
        return StatusEvent(
            kind=EventKind.RUN_LATE,
            source="airflow",
            workflow_name=workflow_name,
            workflow_version=workflow_version,
            dag_id=dag_run.get("dag_id"),
            run_id=str(dag_run.get("dag_run_id") or ""),
            deadline=EventDeadline(name=deadline_name, time=due or datetime.now(UTC)),
            **identity,
        )

    return publish_event(event)


async def _call_team(target: str, context: dict[str, Any]) -> str:
    import asyncio
    import inspect

    from processing_core.airflow.callback_support import import_target

    try:
        function = import_target(target)
        if inspect.iscoroutinefunction(function):
            await function(context)
        else:
            await asyncio.to_thread(function, context)
    except Exception as error:
        _log.error("Deadline callback %s failed: %s: %s", target, type(error).__name__, error)
        return f"{target} failed: {type(error).__name__}"
    return f"{target} called"


def _when(value: object) -> datetime | None:
    """A time from the context: a datetime, or ISO text (the run comes as JSON)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            return _when(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None
