"""RabbitMQ messages start workflows in a real Airflow (the session's deployment, with its
triggerer): each message becomes an asset event exactly once, through triggerer restarts;
a message that cannot be an event is dead-lettered with the reason; processing-core's own
status events chain workflows. See tests/message_pipeline."""

from __future__ import annotations

import json
from typing import Any

import pika
import pytest
from rabbitmq import closing, connection

pytestmark = pytest.mark.slow
RECORDS, BULK = "messages_to_records_test_1.0.0", "messages_to_counts_test_1.0.0"
FOLLOWS, PRODUCER = "products_to_followed_test_1.0.0", "raw_to_products_assets_1.0.0"
HELD = "messages_to_held_test_1.0.0"
# How long the thousand messages' stream may stand still before a wait fails.
STALLED = 180
BURST, EACH, FRAMES = (
    "messages_to_burst_test_1.0.0",
    "messages_to_each_test_1.0.0",
    "frames_to_held_test_1.0.0",
)


def publish(queue: str, bodies: list[tuple[str, bytes]], *, exchange: str = "") -> None:
    """Publish (message id, body) pairs to `queue` (declared durable first, as the trigger
    declares it), confirmed by the broker."""
    with closing(connection()) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True)
        for message_id, body in bodies:
            channel.basic_publish(exchange, queue, body,
                                  pika.BasicProperties(message_id=message_id, delivery_mode=2))  # fmt: skip


def queue_depth(queue: str) -> int:
    with closing(connection()) as conn:
        return conn.channel().queue_declare(queue, passive=True).method.message_count


def dead_letters(queue: str) -> list[tuple[dict, bytes]]:
    found = []
    with closing(connection()) as conn:
        channel = conn.channel()
        while True:
            method, properties, body = channel.basic_get(f"{queue}.dead-letter", auto_ack=True)
            if method is None:
                return found
            found.append((properties.headers or {}, body))


def asset_events(deployment, name: str) -> list[dict[str, Any]]:
    """The events Airflow stored for the asset `name`, oldest first. Read from the metadata
    database: Airflow 3.3's API answers 500 for events whose run is queued without a start
    date (apache/airflow#71360), which the trigger works around and an observer must not
    trip on."""
    rows = deployment.query(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE a.name = %s ORDER BY e.id",
        name,
    )
    return [{"extra": extra if isinstance(extra, dict) else json.loads(extra)} for (extra,) in rows]


def message_ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["extra"]["payload"]["message_id"] for event in events]


def runs_of_events(deployment, dag_id: str, asset: str) -> dict[str, list[str]]:
    """Each stored event of `asset` (by message id, else event id) and the runs of `dag_id`
    that consumed it, read from the metadata database."""
    rows = deployment.query(
        "SELECT e.id, e.extra, r.run_id FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "LEFT JOIN (dagrun_asset_event x JOIN dag_run r ON r.id = x.dag_run_id AND r.dag_id = %s) "
        "ON x.event_id = e.id WHERE a.name = %s ORDER BY e.id",
        dag_id, asset,
    )  # fmt: skip
    found: dict[str, list[str]] = {}
    for event_id, extra, run_id in rows:
        extra = extra if isinstance(extra, dict) else json.loads(extra)
        key = (extra.get("payload") or {}).get("message_id") or f"event-{event_id}"
        found.setdefault(key, [])
        if run_id is not None:
            found[key].append(run_id)
    return found


def runs_without_events(deployment, dag_id: str) -> list[str]:
    rows = deployment.query(
        "SELECT r.run_id FROM dag_run r WHERE r.dag_id = %s AND r.run_type = 'asset_triggered' "
        "AND NOT EXISTS (SELECT 1 FROM dagrun_asset_event x WHERE x.dag_run_id = r.id)",
        dag_id,
    )
    return [run_id for (run_id,) in rows]


def all_in_runs_and_done(deployment, dag_id: str, asset: str, expected: int) -> bool:
    """Every one of `expected` events of `asset` is in a run of `dag_id`, and no run of it is
    queued or running."""
    consumed = runs_of_events(deployment, dag_id, asset)
    active = deployment.query(
        "SELECT count(*) FROM dag_run WHERE dag_id = %s AND state IN ('queued', 'running')",
        dag_id,
    )[0][0]
    return len(consumed) >= expected and all(consumed.values()) and not active


def release_body(folder, release: str) -> bytes:
    """A message for `Hold`: wait until `folder/release` exists."""
    return json.dumps({"release": str(folder / release)}).encode()


def a_run_is_running(deployment, dag_id: str) -> list[tuple[Any, ...]]:
    return deployment.query("SELECT 1 FROM dag_run WHERE dag_id = %s AND state = 'running'", dag_id)


def unpause(deployment, dag_id: str) -> None:
    deployment.wait_for(f"{dag_id} parsed", lambda: dag_id in deployment.dag_ids())
    deployment.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})


def test_a_message_starts_a_run_and_a_broken_one_is_dead_lettered(airflow_deployment, tmp_path):
    deployment, _ = airflow_deployment
    queue = f"{deployment.message_prefix}.records"
    unpause(deployment, RECORDS)
    written = tmp_path / "record.json"
    body = json.dumps({"write_to": str(written), "text": "hello"}).encode()
    # The publisher sent m-1 twice (a retry): one event, one run.
    broken = [("broken-1", b"not json {"), ("surrogate-1", b'{"text": "\\ud800"}'),
              ("utf16-1", '{"text": "hello"}'.encode("utf-16"))]  # fmt: skip
    publish(queue, [("m-1", body), ("m-1", body), *broken])
    record = json.loads(
        deployment.wait_for("the run's record", lambda: written.is_file() and written.read_text())
    )
    assert record == {"text": "hello", "message_id": "m-1", "run_type": "asset_triggered"}
    dead: list[tuple[dict, bytes]] = []
    deployment.wait_for(
        "the dead letters", lambda: dead.extend(dead_letters(queue)) or len(dead) == 3
    )
    assert [body for _, body in dead] == [body for _, body in broken]
    reasons = [headers["x-processing-core-reason"] for headers, _ in dead]
    assert reasons[0].startswith("the body is not JSON")
    assert reasons[1].startswith("body['text'] holds a lone surrogate")
    assert reasons[2].startswith("the body is not UTF-8 text")
    assert {headers["x-processing-core-queue"] for headers, _ in dead} == {queue}
    assert queue_depth(queue) == 0
    assert message_ids(asset_events(deployment, f"rabbitmq_{queue}")) == ["m-1"]


def test_a_status_event_of_another_workflow_starts_a_run(airflow_deployment, tmp_path):
    deployment, bus = airflow_deployment
    queue = f"{deployment.message_prefix}.follow"
    unpause(deployment, FOLLOWS)
    with closing(connection()) as conn:  # as the trigger binds it, before the event is sent
        channel = conn.channel()
        channel.exchange_declare(bus.name, exchange_type="topic", durable=True)
        channel.queue_declare(queue, durable=True)
        channel.queue_bind(queue, bus.name, routing_key="run.succeeded")
    deployment.wait_for("the producer parsed", lambda: PRODUCER in deployment.dag_ids())

    def followed(run_id: str) -> list[str]:
        runs = deployment.api("GET", f"dags/{FOLLOWS}/dagRuns", params={"state": "success"})
        seen = []
        for run in runs["dag_runs"]:
            xcom = deployment.api("GET", f"dags/{FOLLOWS}/dagRuns/{run['dag_run_id']}"
                                  "/taskInstances/follow/xcomEntries/return_value")  # fmt: skip
            value = xcom["value"]
            seen += (json.loads(value) if isinstance(value, str) else value)["outputs"]["followed"]
        return seen if run_id in seen else []

    run_id = deployment.trigger(PRODUCER, {"label": "chained"})
    try:
        assert run_id in deployment.wait_for("a run of the follower", lambda: followed(run_id))
    finally:  # other tests run the producer too: their events start no run of it
        deployment.api("PATCH", f"dags/{FOLLOWS}", json={"is_paused": True})


def test_a_thousand_messages_through_two_triggerer_restarts_are_a_thousand_events(
    airflow_deployment,
):
    deployment, _ = airflow_deployment
    queue = f"{deployment.message_prefix}.bulk"
    name = f"rabbitmq_{queue}"
    unpause(deployment, BULK)
    publish(queue, [("warm-up", b"{}")])
    deployment.wait_for("the trigger consumes", lambda: message_ids(asset_events(deployment, name)))
    deployment.stop_process("triggerer")
    sent = [f"m-{i:04d}" for i in range(1000)]
    publish(queue, [(message_id, json.dumps({"n": message_id}).encode()) for message_id in sent])
    publish(queue, [("broken-2", b"[1, 2]")])
    # Each wait fails when nothing moves for STALLED seconds, not after a fixed time: on a
    # busy machine the triggerer is slow, and only a stall means a message was lost.
    seen: dict[str, int] = {}

    def stored(at_least: int) -> bool:
        seen["events stored"] = len(asset_events(deployment, name))
        return seen["events stored"] >= at_least

    def progress() -> tuple[int, ...]:
        return tuple(seen.values())

    for threshold in (300, 700):
        deployment.start_process("triggerer")
        deployment.wait_for(f"{threshold} events", lambda t=threshold: stored(t),
                            timeout=STALLED, progress=progress)  # fmt: skip
        deployment.stop_process("triggerer")  # in the middle of the stream
    deployment.start_process("triggerer")

    def drained() -> bool:
        seen["ready messages"] = queue_depth(queue)
        return stored(1001) and seen["ready messages"] == 0

    deployment.wait_for("the queue drained", drained, timeout=STALLED, progress=progress)
    # After the restarts, a publisher's retry of a message that is an event already, then a
    # sentinel: the one consumer takes the queue in order, so once the sentinel is an event,
    # every message before it (redeliveries still in flight included) was handled.
    publish(queue, [("m-0000", b"{}"), ("after", b"{}")])
    deployment.wait_for(
        "the sentinel message", lambda: "after" in message_ids(asset_events(deployment, name))
    )
    ids = message_ids(asset_events(deployment, name))
    assert sorted(ids) == sorted(["warm-up", *sent, "after"])  # none lost, none doubled
    skipped = deployment.log("triggerer").count("was already an asset event; skipped")
    print(f"redelivered messages recognised and skipped: {skipped}")
    (dead,) = dead_letters(queue)
    assert dead[0]["x-processing-core-reason"] == "the body is JSON list, not an object"
    # Runs, not only events: every one of them is in exactly one run of the workflow.
    deployment.wait_for(
        "every event in a run",
        lambda: all_in_runs_and_done(deployment, BULK, name, 1002),
        timeout=STALLED,
        progress=lambda: deployment.query(
            "SELECT count(*) FROM dag_run WHERE dag_id = %s AND state = 'success'", BULK
        )[0],
    )
    consumed = runs_of_events(deployment, BULK, name)
    assert all(len(runs) == 1 for runs in consumed.values())
    assert runs_without_events(deployment, BULK) == []
    print(f"runs made: {len({run for runs in consumed.values() for run in runs})}")


def test_events_airflow_cannot_list_do_not_stop_the_trigger_recognising_the_rest(
    airflow_deployment, tmp_path, monkeypatch
):
    """Airflow 3.3's API answers 500 for an event whose run is queued without a start date
    (apache/airflow#71360): here a cleared run waiting behind a running one. The trigger's
    listing still reads every other event, counts the one it cannot, and a publisher's retry
    of a readable message stays one event."""
    import asyncio

    import requests

    from processing_core.airflow.triggers import recorded_message_ids

    deployment, _ = airflow_deployment
    queue = f"{deployment.message_prefix}.held"
    name = f"rabbitmq_{queue}"
    unpause(deployment, HELD)

    def runs(state: str) -> list[str]:
        listed = deployment.api("GET", f"dags/{HELD}/dagRuns", params={"state": state})
        return [run["dag_run_id"] for run in listed["dag_runs"]]

    (tmp_path / "go-1").touch()
    publish(queue, [("h-1", release_body(tmp_path, "go-1"))])
    (first,) = deployment.wait_for("h-1's run succeeds", lambda: runs("success"))
    publish(queue, [("h-2", release_body(tmp_path, "go-2"))])  # its run waits for go-2
    deployment.wait_for("h-2's run is running", lambda: runs("running"))
    deployment.api("POST", f"dags/{HELD}/dagRuns/{first}/clear", json={"dry_run": False})
    # Behind the running one (one run at a time), as the scheduler keeps it: no start date.
    deployment.wait_for("the cleared run queued", lambda: runs("queued") == [first])

    (asset_id,) = [a["id"] for a in deployment.api("GET", "assets", params={"name_pattern": name})[
        "assets"] if a["name"] == name]  # fmt: skip
    listed = requests.get(
        f"{deployment.url}/api/v2/assets/events", params={"asset_id": asset_id}, timeout=30,
        headers={"Authorization": f"Bearer {deployment.token()}"},
    )  # fmt: skip
    assert listed.status_code == 500, (
        "Airflow lists events of queued runs now (apache/airflow#71360 fixed): the trigger's "
        "page splitting (processing_core.airflow.triggers._read_range) can go"
    )
    monkeypatch.setenv("AIRFLOW_API_URL", deployment.url)
    monkeypatch.setenv("AIRFLOW_API_TOKEN", deployment.token())
    recorded = asyncio.run(recorded_message_ids(name))
    assert (recorded.ids, recorded.unreadable) == ({"h-2"}, 1)

    # A triggerer that starts now lists the asset's events on its first message.
    deployment.stop_process("triggerer")
    deployment.start_process("triggerer")
    publish(
        queue, [("h-2", release_body(tmp_path, "go-2")), ("h-3", release_body(tmp_path, "go-3"))]
    )
    deployment.wait_for("h-3's event", lambda: "h-3" in message_ids(asset_events(deployment, name)))
    assert message_ids(asset_events(deployment, name)) == ["h-1", "h-2", "h-3"]
    assert "Airflow's API cannot show 1 recent events of asset" in deployment.log("triggerer")
    for release in ("go-2", "go-3"):
        (tmp_path / release).touch()


def backlog(deployment, dag_id: str) -> dict[str, Any]:
    """`processing-core backlog --json DAG` where the deployment's database is configured."""
    from conftest import run_cli

    shown = run_cli(
        "backlog", "--json", dag_id,
        AIRFLOW_HOME=deployment.env["AIRFLOW_HOME"],
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=deployment.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_every_message_of_a_burst_is_in_a_run(airflow_deployment, tmp_path):
    """20 messages reach a one-run-at-a-time workflow while its run is held. Airflow 3.3 alone
    consumes one or a few of them in the next run and leaves the rest in no run
    (apache/airflow#56050); the scheduler's processing-core plugin queues them again."""
    deployment, _ = airflow_deployment
    queue = f"{deployment.message_prefix}.burst"
    name = f"rabbitmq_{queue}"
    unpause(deployment, BURST)
    publish(queue, [("b-00", release_body(tmp_path, "hold"))])
    deployment.wait_for("b-00's run is running", lambda: a_run_is_running(deployment, BURST))
    (tmp_path / "go").touch()
    burst = [f"b-{i:02d}" for i in range(1, 21)]
    publish(queue, [(message_id, release_body(tmp_path, "go")) for message_id in burst])
    deployment.wait_for("21 events", lambda: len(asset_events(deployment, name)) == 21)
    waiting = backlog(deployment, BURST)
    assert (waiting["waiting"], waiting["assets"]) == (20, {name: 20}), waiting
    (tmp_path / "hold").touch()

    deployment.wait_for(
        "every event in a run",
        lambda: all_in_runs_and_done(deployment, BURST, name, 21),
        timeout=240,
    )
    consumed = runs_of_events(deployment, BURST, name)
    assert sorted(consumed) == ["b-00", *burst]
    assert all(len(runs) == 1 for runs in consumed.values()), consumed  # none twice
    assert runs_without_events(deployment, BURST) == []
    print(f"runs made: {len({run for runs in consumed.values() for run in runs})}")
    assert backlog(deployment, BURST)["waiting"] == 0


def test_one_run_per_message(airflow_deployment):
    """`one_run_per_message=True`: 10 messages published at once make 10 runs, each with
    its own message, named in the run's note."""
    deployment, _ = airflow_deployment
    queue = f"{deployment.message_prefix}.each"
    name = f"rabbitmq_{queue}"
    unpause(deployment, EACH)
    sent = [f"e-{i}" for i in range(10)]
    publish(queue, [(message_id, json.dumps({"n": message_id}).encode()) for message_id in sent])
    deployment.wait_for(
        "ten runs", lambda: all_in_runs_and_done(deployment, EACH, name, 10), timeout=300
    )
    consumed = runs_of_events(deployment, EACH, name)
    assert sorted(consumed) == sorted(sent)
    runs = [run for runs in consumed.values() for run in runs]
    assert len(runs) == len(set(runs)) == 10, consumed  # a run of its own for each message
    notes = dict(deployment.query(
        "SELECT r.run_id, n.content FROM dag_run r JOIN dag_run_note n ON n.dag_run_id = r.id "
        "WHERE r.dag_id = %s", EACH))  # fmt: skip
    by_run = {run_ids[0]: message_id for message_id, run_ids in consumed.items()}
    assert {run: notes.get(run) for run in by_run} == {
        run: f"message {message_id}" for run, message_id in by_run.items()
    }
    assert queue_depth(queue) == 0


def test_events_arriving_during_a_run_of_an_asset_scheduled_workflow_are_all_consumed(
    airflow_deployment, tmp_path
):
    """An asset-scheduled workflow (one run at a time): events posted to Airflow's API while
    its run is held all end up in runs."""
    deployment, _ = airflow_deployment
    unpause(deployment, FRAMES)
    (asset_id,) = [a["id"] for a in deployment.api(
        "GET", "assets", params={"name_pattern": "test_frames"})["assets"]
        if a["name"] == "test_frames"]  # fmt: skip

    def post(release: str) -> None:
        deployment.api("POST", "assets/events",
                       json={"asset_id": asset_id, "extra": {"release": str(tmp_path / release)}})  # fmt: skip

    post("hold")
    deployment.wait_for("the first run is running", lambda: a_run_is_running(deployment, FRAMES))
    (tmp_path / "go").touch()
    for _ in range(5):
        post("go")
    (tmp_path / "hold").touch()
    deployment.wait_for(
        "every event in a run",
        lambda: all_in_runs_and_done(deployment, FRAMES, "test_frames", 6),
        timeout=240,
    )
    consumed = runs_of_events(deployment, FRAMES, "test_frames")
    assert len(consumed) == 6 and all(len(runs) == 1 for runs in consumed.values()), consumed
    assert runs_without_events(deployment, FRAMES) == []
