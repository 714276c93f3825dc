"""A workflow's deadlines in a running Airflow (the session's deployment: scheduler, triggerer,
PostgreSQL): a late run is one `run.late` per deadline it missed and one call of the team's
DEADLINE_CALLBACK; a run that succeeded in time, and one that failed in time, none.

late_pipeline has two deadlines, 40 s after the run was queued and 40 s after its logical
date; the session's bundles name `chatops:late` as DEADLINE_CALLBACK (tests/deployment.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from rabbitmq import closing, connection

from processing_core.events.model import StatusEvent

pytestmark = pytest.mark.slow

DAG_ID = "gate_to_late_test_1.0.0"
DEADLINE = timedelta(seconds=40)


def _deadlines(deployment, run_id: str) -> list[tuple[str, datetime, bool, str | None, str | None]]:
    """(alert name, deadline time, missed, callback state, callback output) of a run."""
    return deployment.query(
        "select a.name, d.deadline_time, d.missed, c.state, c.output from deadline d "
        "join dag_run r on r.id = d.dagrun_id join callback c on c.id = d.callback_id "
        "left join deadline_alert a on a.id = d.deadline_alert_id "
        "where r.dag_id = %s and r.run_id = %s order by a.name",
        DAG_ID, run_id,
    )  # fmt: skip


def _trigger(deployment, gate: Path, *, fail: bool = False, logical_date: str | None = None):
    run = deployment.api("POST", f"dags/{DAG_ID}/dagRuns", json={
        "logical_date": logical_date, "conf": {"gate": str(gate), "fail": fail}})  # fmt: skip
    return str(run["dag_run_id"])


def _drain(queue: str) -> list[StatusEvent]:
    """Every message in `queue` now (basic_get until it is empty)."""
    events = []
    with closing(connection()) as conn:
        channel = conn.channel()
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return events
            events.append(StatusEvent.model_validate_json(body))


def test_a_late_run_is_reported_once_per_deadline_and_runs_in_time_never(
    airflow_deployment, tmp_path
):
    deployment, bus = airflow_deployment
    deployment.wait_for(f"{DAG_ID} parsed", lambda: DAG_ID in deployment.dag_ids())
    queue = f"{bus.name}.late"
    with closing(connection()) as conn:
        channel = conn.channel()
        channel.exchange_declare(bus.name, exchange_type="topic", durable=True)
        channel.queue_declare(queue, durable=True)
        channel.queue_bind(queue, bus.name, routing_key="run.late")
    in_time, failed, late = (tmp_path / name for name in ("in-time", "failed", "late"))
    in_time.touch()
    failed.touch()
    deployment.api("PATCH", f"dags/{DAG_ID}", json={"is_paused": False})
    try:
        runs = {
            "in time": _trigger(deployment, in_time),
            "failed": _trigger(deployment, failed, fail=True),
            # A logical date: its second deadline counts from it (the others have none).
            "late": _trigger(deployment, late, logical_date=datetime.now(UTC).isoformat()),
        }
        deployment.wait_for("the in-time runs ended", lambda: [
            deployment.run_state(DAG_ID, runs[name]) for name in ("in time", "failed")
        ] == ["success", "failed"])  # fmt: skip
        for name in ("in time", "failed"):  # the premise: they ended before their deadline
            ((queued, ended),) = deployment.query(
                "select queued_at, end_date from dag_run where dag_id = %s and run_id = %s",
                DAG_ID, runs[name],
            )  # fmt: skip
            assert ended - queued < DEADLINE, f"the {name} run took {ended - queued}: too slow"
        # The deadlines passed: the scheduler marked them missed, the triggerer ran their
        # callbacks to the end (the late run's each published, then called the team's).
        deployment.wait_for("every deadline handled", lambda: [
            (row[2], row[3]) for run in ("late", "failed") for row in _deadlines(deployment, runs[run])
        ] == [(True, "success")] * 3)  # fmt: skip
        late.touch()
        deployment.wait_for("the late run succeeded",
                            lambda: deployment.run_state(DAG_ID, runs["late"]) == "success")  # fmt: skip

        # A run that succeeded in time has no deadline left: Airflow deleted it, so no
        # callback can ever come for it.
        assert _deadlines(deployment, runs["in time"]) == []
        # Airflow keeps the deadline of a run that failed and runs its callback: run_late
        # sees the run ended first and publishes nothing. Neither has a logical date, so
        # Airflow made no logical-date deadline for them.
        (row,) = _deadlines(deployment, runs["failed"])
        name, _, missed, state, output = row
        assert (name, missed, state) == ("40s after queued", True, "success")
        assert "ended (failed)" in output and "not late" in output

        # Every callback is finished: the queue holds all they ever published.
        events = _drain(queue)
        due = {row[0]: row[1] for row in _deadlines(deployment, runs["late"])}
        assert sorted((e.run_id, e.deadline.name) for e in events if e.deadline) == [
            (runs["late"], "40s after logical_date"), (runs["late"], "40s after queued")
        ]  # fmt: skip
        assert len(events) == 2
        for event in events:
            assert event.kind == "run.late" and event.source == "airflow"
            assert (event.workflow_name, event.workflow_version) == ("gate_to_late_test", "1.0.0")
            assert event.deadline is not None and event.deadline.time == due[event.deadline.name]
        outputs = sorted(row[4] for row in _deadlines(deployment, runs["late"]))
        assert outputs == sorted(f"run.late {e.event_id}; chatops:late called" for e in events)

        # The team's callback: called once per missed deadline, for the late run only.
        lines = Path(f"{late}.late").read_text().splitlines()
        assert sorted(line.split()[0] for line in lines) == [runs["late"], runs["late"]]
        assert not Path(f"{in_time}.late").exists() and not Path(f"{failed}.late").exists()

        # What Airflow's Deadlines page lists (the UI's own endpoint).
        listed = requests.get(
            f"{deployment.url}/ui/dags/{DAG_ID}/dagRuns/~/deadlines", timeout=30,
            headers={"Authorization": f"Bearer {deployment.token()}"},
        )  # fmt: skip
        assert listed.ok, listed.text
        shown = {(d["dag_run_id"], d["alert_name"], d["missed"])
                 for d in listed.json()["deadlines"]}  # fmt: skip
        assert shown == {
            (runs["late"], "40s after queued", True),
            (runs["late"], "40s after logical_date", True),
            (runs["failed"], "40s after queued", True),
        }
    finally:
        deployment.api("PATCH", f"dags/{DAG_ID}", json={"is_paused": True})
        bus.delete_queues(queue)
