"""`Workflow(triggered_by=RabbitMQMessages(...))` becomes an asset with a watcher running
processing-core's RabbitMQ trigger; bad declarations are refused at build time. (The
trigger's behaviour against RabbitMQ and Airflow: tests/test_messages_deployment.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from processing_core import Asset, RabbitMQMessages, TaskBase, Workflow
from processing_core.airflow import to_dag
from processing_core.config import load_settings


class Note(TaskBase):
    def run(self) -> None:
        pass


def workflow(messages, schedule=None) -> Workflow:
    flow = Workflow("messages", "notes", "test", version="1.0.0", workflow_package="test_messages",
                    schedule=schedule, triggered_by=messages,
                    start_date=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    flow.add_node(Note)
    return flow


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        (RabbitMQMessages("has space"), "queue 'has space' must be 1-255 letters"),
        (RabbitMQMessages("amq.mine"), "starts with 'amq.', RabbitMQ's own"),
        (RabbitMQMessages("q", routing_keys=("run.*",)), "bind the queue to an exchange; name it"),
        (RabbitMQMessages("q", exchange="x", routing_keys="run.*"), "must be a list of strings"),
        (RabbitMQMessages("q", exchange="x", routing_keys=("a b",)), "is not a topic pattern"),
        (RabbitMQMessages("q", match={"n": float("nan")}), "match must hold JSON values only"),
        (RabbitMQMessages("q", prefetch=0), "prefetch must be a whole number from 1 to 10000"),
        (RabbitMQMessages("q", one_run_per_message="yes"), "one_run_per_message must be True"),  # type: ignore[arg-type]
        ("q", "triggered_by 'q' is not RabbitMQMessages(queue=...)"),
    ],
)
def test_a_bad_message_source_is_refused_naming_the_fix(messages, fragment):
    assert fragment in "\n".join(workflow(messages).problems(load_settings()))


def test_messages_become_an_asset_watched_by_the_rabbitmq_trigger():
    from airflow.sdk import AssetAny
    from airflow.sdk.definitions.timetables.assets import AssetOrTimeSchedule

    from processing_core.airflow.triggers import CLASSPATH, RabbitMQMessageTrigger

    follows = RabbitMQMessages.status_events(
        "vbi.done", workflow="l0_to_l1_vbi", version="1.4.0", exchange="events"
    )
    dag = to_dag(workflow(follows), "local")
    asset = dag.timetable.asset_condition
    assert (asset.name, asset.uri) == ("rabbitmq_vbi.done", "rabbitmq://queue/vbi.done")
    (watcher,) = asset.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, RabbitMQMessageTrigger)
    assert trigger.serialize() == (CLASSPATH, {
        "queue": "vbi.done", "asset_name": "rabbitmq_vbi.done", "exchange": "events",
        "routing_keys": ["run.succeeded"], "prefetch": 100,
        "match": {"workflow_name": "l0_to_l1_vbi", "workflow_version": "1.4.0"},
    })  # fmt: skip
    # One consumer per queue, whichever trigger watches it.
    other = RabbitMQMessageTrigger(**{**trigger.serialize()[1], "match": {}})
    assert other.shared_stream_key() == trigger.shared_stream_key()
    # Beside a schedule: any of its assets, or the cron as well.
    beside_asset = workflow(RabbitMQMessages("q"), schedule=Asset("s3://b/l1", name="l1"))
    assert isinstance(to_dag(beside_asset, "local").timetable.asset_condition, AssetAny)
    beside_cron = to_dag(workflow(RabbitMQMessages("q"), schedule="@daily"), "kubernetes")
    assert isinstance(beside_cron.timetable, AssetOrTimeSchedule)


def test_one_run_per_message_is_its_own_consumer_and_leaves_batching_files_unchanged():
    from processing_core.airflow.triggers import RabbitMQMessageTrigger

    batching = RabbitMQMessages("q").trigger_kwargs()
    assert "one_run_per_message" not in batching  # DAG files exported before keep their trigger
    each = RabbitMQMessages.status_events("q", workflow="w", one_run_per_message=True)
    assert each.trigger_kwargs()["one_run_per_message"] is True
    (watcher,) = to_dag(workflow(each), "local").timetable.asset_condition.watchers
    assert watcher.trigger.serialize()[1]["one_run_per_message"] is True
    paced = RabbitMQMessageTrigger(**{**batching, "one_run_per_message": True})
    assert paced.shared_stream_key() != RabbitMQMessageTrigger(**batching).shared_stream_key()
    producer = RabbitMQMessageTrigger.create_shared_stream_producer(paced.serialize()[1])
    assert producer.paced_by_asset == "rabbitmq_q"
    assert RabbitMQMessageTrigger.create_shared_stream_producer(batching).paced_by_asset is None


def test_a_run_note_names_the_messages_of_processing_cores_trigger_only():
    from types import SimpleNamespace

    from processing_core.airflow.asset_queue import message_note

    def event(n: int, extra: dict) -> SimpleNamespace:
        return SimpleNamespace(id=n, timestamp=datetime(2026, 1, 1, 0, 0, n, tzinfo=UTC),
                               extra=extra)  # fmt: skip

    def message(n: int, message_id: str) -> SimpleNamespace:
        return event(n, {"from_trigger": True, "payload": {"message_id": message_id}})

    assert message_note([message(1, "m-1")]) == "message m-1"
    assert message_note([message(3, "m-3"), message(1, "m-1"), message(2, "m-2")]) == (
        "3 messages: m-1 .. m-3"
    )
    assert message_note([event(1, {"payload": {"message_id": "posted"}}), event(2, {})]) is None


def test_airflow_finds_processing_cores_plugin_and_its_listener():
    from airflow import plugins_manager

    from processing_core.airflow import queue_listener
    from processing_core.airflow.plugin import ProcessingCorePlugin

    plugins, _ = plugins_manager._get_plugins()
    assert any(isinstance(plugin, ProcessingCorePlugin) for plugin in plugins)
    assert ProcessingCorePlugin.listeners == [queue_listener]


def test_backlog_without_a_metadata_database_says_what_to_set(tmp_path):
    from conftest import run_cli

    shown = run_cli("backlog", AIRFLOW_HOME=str(tmp_path),
                    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'none.db'}")  # fmt: skip
    assert shown.returncode == 1
    assert "cannot read Airflow's metadata database" in shown.stderr
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in shown.stderr
    assert "Traceback" not in shown.stderr


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"n": NaN}', "the body is not JSON: NaN is not a JSON number"),
        (b"[" * 30_000 + b"]" * 30_000, "the body is nested too deeply"),
        (b"x" * (64 * 1024 + 1), "the body is 65537 bytes; an event takes 65536"),
        (
            b"\xff\xfe",
            "the body is not UTF-8 text (byte 0: b'\\xff'); publish JSON encoded as UTF-8",
        ),
        ('{"a": 1}'.encode("utf-16"), "the body is not UTF-8 text"),  # BOM: no guessing
        ('{"a": 1}'.encode("utf-32-le"), "the body is not JSON"),  # starts with a NUL: not "utf-16"
        (b'{"a": "\\ud800"}', "body['a'] holds a lone surrogate"),
        (b'{"a": [{"\\udfff": 1}]}', "body['a'][0] (the key '\\udfff') holds a lone surrogate"),
        (b'\xef\xbb\xbf{"bom": "utf-8"}', ""),  # a UTF-8 byte-order mark is still UTF-8
        (b'{"pair": "\\ud83d\\ude00"}', ""),  # an escaped pair is one character
        (b'"text"', "the body is JSON str, not an object"),
        (b'{"ok": true}', ""),
    ],
)
def test_a_message_that_cannot_be_an_event_says_why(body, problem):
    from types import SimpleNamespace

    from processing_core.airflow.triggers import read_message

    # A delivery as aio-pika hands it over: only the attributes read_message reads.
    delivery = SimpleNamespace(body=body, message_id=None, routing_key="k", redelivered=False)
    message = read_message(delivery)
    assert problem in message["problem"] and bool(message["problem"]) == bool(problem)
    assert "utf-16" not in message["problem"]  # json.loads(bytes) guessed encodings once
    assert len(message["message_id"]) == 64  # no id given: the body's digest


def test_the_consumer_dead_letters_bodies_that_are_not_utf8_json_with_the_reason(bus):
    """The trigger's consumer against the real broker: what cannot be an event reaches
    `<queue>.dead-letter` with its reason, and the queue is left empty."""
    import asyncio

    import pika
    from airflow.triggers.shared_stream import AdvanceItem, AdvanceOutcome
    from rabbitmq import closing, connection

    from processing_core.airflow.triggers import QueueConsumer

    queue = f"{bus.name}.hostile"
    bodies = {
        "surrogate": b'{"a": "\\ud800"}',
        "utf-16": '{"a": 1}'.encode("utf-16"),
        "nul": b'\x00{"a": 1}',
        "fine": b'{"a": 1}',
    }
    with closing(connection()) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.queue_declare(queue, durable=True)
        for message_id, body in bodies.items():
            channel.basic_publish("", queue, body, pika.BasicProperties(message_id=message_id))

    async def consume() -> dict[str, str]:
        consumer = QueueConsumer(queue=queue, exchange="", routing_keys=(), prefetch=10)
        problems: dict[str, str] = {}
        stream = consumer.open_stream()
        try:
            async for message, payload in stream:
                problems[message["message_id"]] = message["problem"]
                # As Airflow resolves it: the filter rejects what has a problem.
                outcome = AdvanceOutcome(acked=0 if message["problem"] else 1, failed=0,
                                         rejected=1 if message["problem"] else 0)  # fmt: skip
                await consumer.advance([AdvanceItem(payload, outcome)])
                if len(problems) == len(bodies):
                    return problems
        finally:
            await stream.aclose()
            await consumer.aclose()
        return problems

    try:
        problems = asyncio.run(asyncio.wait_for(consume(), 30))
        assert problems["fine"] == ""
        dead = {}
        with closing(connection()) as conn:
            channel = conn.channel()
            while True:
                method, properties, body = channel.basic_get(f"{queue}.dead-letter", auto_ack=True)
                if method is None:
                    break
                dead[properties.message_id] = (body, properties.headers["x-processing-core-reason"])
            depth = channel.queue_declare(queue, passive=True).method.message_count
        assert sorted(dead) == ["nul", "surrogate", "utf-16"]
        assert all(dead[name][0] == bodies[name] for name in dead)  # the body as sent
        assert dead["surrogate"][1].startswith("body['a'] holds a lone surrogate")
        assert dead["utf-16"][1].startswith("the body is not UTF-8 text")
        assert dead["nul"][1].startswith("the body is not JSON")
        assert depth == 0
    finally:
        bus.delete_queues(queue, f"{queue}.dead-letter")


def test_the_example_kubernetes_operators_carry_their_outlets(kubernetes_dags):
    from airflow.sdk import Asset as AirflowAsset
    from airflow.sdk import AssetAlias
    from conftest import EXAMPLE_VERSION, load_dagbag

    bag = load_dagbag(kubernetes_dags)
    dag = bag.dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"]
    assert dag.get_task("publish").outlets == [
        AirflowAsset(name="vbi_l1_products", uri="file:///data/vbi/l1", group="asset")
    ]
    assert dag.get_task("frame_statistics").outlets == [
        AssetAlias(name="vbi_daily_statistics", group="asset")
    ]  # the SparkApplication's task
    quicklook = bag.dags[f"l0_to_quicklook_vbi_{EXAMPLE_VERSION}"]
    assert quicklook.timetable.asset_condition == AirflowAsset(
        name="vbi_l1_products", uri="file:///data/vbi/l1", group="asset"
    )
