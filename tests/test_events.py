"""Status events through the real RabbitMQ: every kind arrives, valid, and none is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest
from conftest import run_cli, subprocess_env
from rabbitmq import BreakableProxy, Bus, wait_until_following

from processing_core.config import load_settings
from processing_core.errors import SettingsError
from processing_core.events.model import EventKind, StatusEvent
from processing_core.events.outbox import Outbox
from processing_core.events.publisher import EventPublisher

IDENTITY = [
    "--workflow-name=l0_to_l1_vbi", "--workflow-version=2.1.0", "--dag-id=l0_to_l1_vbi_2.1.0",
    "--task-id=the_task", "--run-id=manual__2026-11-21", "--try-number=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def event_schema() -> dict:
    completed = run_cli("events", "schema")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def run_task(task: str, bus: Bus, tmp_path: Path, *args: str, **env: str):
    return run_cli(
        "run-task", task, *IDENTITY, *args,
        **bus.env(EVENTS_OUTBOX=str(tmp_path / "outbox"), **env),
    )  # fmt: skip


def test_each_event_of_a_real_run_arrives_valid(bus, tmp_path, event_schema):
    ok = run_task("sample_tasks:Echo", bus, tmp_path, '--parameters={"seed": 7}')
    assert ok.returncode == 0, ok.stderr
    failing = run_task(
        "sample_tasks:Failing", bus, tmp_path, f'--parameters={{"markers": "{tmp_path}"}}'
    )
    assert failing.returncode == 1
    messages = bus.messages(expected=4)
    assert len(messages) == 4
    events = []
    for properties, method, body in messages:
        document = json.loads(body)
        jsonschema.validate(document, event_schema)
        event = StatusEvent.model_validate(document)
        assert properties.message_id == event.event_id
        assert properties.content_type == "application/json"
        assert properties.delivery_mode == 2
        assert method.routing_key == event.kind.value
        events.append(event)
    kinds = [e.kind for e in events]
    assert kinds == [
        EventKind.TASK_STARTED,
        EventKind.TASK_SUCCEEDED,
        EventKind.TASK_STARTED,
        EventKind.TASK_FAILED,
    ]
    succeeded, failed = events[1], events[3]
    assert (succeeded.workflow_name, succeeded.workflow_version, succeeded.dag_id) == (
        "l0_to_l1_vbi", "2.1.0", "l0_to_l1_vbi_2.1.0",
    )  # fmt: skip
    assert (succeeded.run_id, succeeded.task_id, succeeded.try_number) == (
        "manual__2026-11-21",
        "the_task",
        2,
    )
    assert succeeded.outputs["parameters"] == {"seed": 7}
    assert succeeded.metrics == {"answer": 42}
    assert succeeded.source == "task"
    assert failed.error.type == "RuntimeError"
    assert failed.error.message == "calibration frames are missing"
    assert "raise RuntimeError" in failed.error.traceback_tail
    assert len({e.event_id for e in events}) == 4


def test_unreachable_broker_never_fails_the_task_and_flush_delivers_each_once(bus, tmp_path):
    outbox = tmp_path / "outbox"
    result_path = tmp_path / "result.json"
    down = {"ISB_PORT": "1", "RETRY_CONFIG": '{"attempts": 2, "delay_seconds": 0.05}'}
    for _ in range(3):
        completed = run_task(
            "sample_tasks:Echo", bus, tmp_path, f"--result-path={result_path}", **down
        )
        assert completed.returncode == 0, completed.stderr
        assert json.loads(result_path.read_text())["status"] == "success"
    kept = {path.name.split(".")[0] for path in outbox.glob("*.event")}
    assert len(kept) == 6
    # The retries are spent once a run: the second event went straight to the outbox.
    assert completed.stderr.count("not confirmed (attempt") == 2
    flushed = run_cli("events", "flush", **bus.env(EVENTS_OUTBOX=str(outbox)))
    assert flushed.returncode == 0, flushed.stderr
    assert "6 event(s) delivered, 0 kept" in flushed.stdout
    received = [p.message_id for p, _, _ in bus.messages(expected=6)]
    assert sorted(received) == sorted(kept)  # all of them, each once
    assert list(outbox.glob("*.event")) == []


def test_flush_to_an_unreachable_broker_keeps_everything(tmp_path):
    outbox = Outbox(tmp_path)
    outbox.put("11111111-0000-0000-0000-000000000000", "task.started", b"{}")
    flushed = run_cli("events", "flush", EVENTS_OUTBOX=str(tmp_path), ISB_PORT="1")
    assert flushed.returncode == 1
    assert "0 event(s) delivered, 1 kept" in flushed.stdout
    assert len(outbox) == 1


def test_the_outbox_is_delivered_first_on_the_next_connection(bus, tmp_path):
    settings = load_settings(
        **{k.lower(): v for k, v in bus.env(EVENTS_OUTBOX=str(tmp_path)).items()}
    )
    earlier = StatusEvent(
        kind="task.started", source="task", workflow_name="w", workflow_version="1", run_id="r"
    )
    Outbox(tmp_path).put(earlier.event_id, earlier.routing_key, earlier.body())
    later = StatusEvent(
        kind="task.succeeded", source="task", workflow_name="w", workflow_version="1", run_id="r"
    )
    with EventPublisher(settings) as publisher:
        assert publisher.publish(later) is True
    assert [p.message_id for p, _, _ in bus.messages(expected=2)] == [
        earlier.event_id,
        later.event_id,
    ]
    assert len(Outbox(tmp_path)) == 0


def test_a_connection_broken_mid_stream_loses_nothing(bus, tmp_path):
    proxy = BreakableProxy()
    settings = load_settings(
        **{
            k.lower(): v
            for k, v in bus.env(ISB_PORT=str(proxy.port), EVENTS_OUTBOX=str(tmp_path)).items()
        }
    )

    def cut_three_times() -> None:
        for _ in range(3):
            time.sleep(0.2)
            proxy.cut()

    cutter = threading.Thread(target=cut_three_times)
    published = []
    try:
        with EventPublisher(settings) as publisher:
            cutter.start()
            # Keep the stream flowing until every cut happened, and a little after.
            while cutter.is_alive() or len(published) < 50:
                event = StatusEvent(
                    kind="task.started",
                    source="task",
                    workflow_name="w",
                    workflow_version="1",
                    run_id=f"r{len(published)}",
                )
                publisher.publish(event)
                published.append(event.event_id)
                if not cutter.is_alive() and len(published) % 50 == 0:
                    break
            publisher.flush()
        cuts_while_publishing = proxy.cuts
    finally:
        proxy.close()
    assert cuts_while_publishing == 3
    received = {p.message_id for p, _, _ in bus.messages(expected=len(published) * 2, timeout=3)}
    assert received == set(published)  # duplicates allowed, losses not


PUBLISHER = """
import sys
from processing_core.config import load_settings
from processing_core.events.model import StatusEvent
from processing_core.events.publisher import EventPublisher
worker, count = sys.argv[1], int(sys.argv[2])
with EventPublisher(load_settings()) as publisher:
    for number in range(count):
        event = StatusEvent(kind="task.succeeded", source="task", workflow_name="w",
                            workflow_version="1", run_id=f"{worker}-{number}")
        assert publisher.publish(event)
"""


def test_ten_thousand_events_from_concurrent_processes_each_arrive_once(bus, tmp_path):
    env = subprocess_env(**bus.env(EVENTS_OUTBOX=str(tmp_path)))
    workers = [
        subprocess.Popen([sys.executable, "-c", PUBLISHER, str(worker), "2500"], env=env)
        for worker in range(4)
    ]
    assert [worker.wait(timeout=300) for worker in workers] == [0, 0, 0, 0]
    messages = bus.messages(expected=10_000, timeout=10)
    ids = [p.message_id for p, _, _ in messages]
    assert len(ids) == 10_000
    assert len(set(ids)) == 10_000
    assert {json.loads(body)["run_id"] for _, _, body in messages} == {
        f"{w}-{n}" for w in range(4) for n in range(2500)
    }
    assert len(Outbox(tmp_path)) == 0


def test_quorum_queue_type(bus, tmp_path):
    completed = run_task("sample_tasks:Echo", bus, tmp_path, ISB_QUEUE_TYPE="quorum")
    assert completed.returncode == 0, completed.stderr
    assert len(bus.messages(expected=2)) == 2
    assert len(list((tmp_path / "outbox").glob("*.event"))) == 0


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("MESH_CONFIG", "{interservice-bus", "MESH_CONFIG: not valid JSON"),
        ("MESH_CONFIG", '{"interservice-bus": {"mesh_address": "mq"}}', "MESH_CONFIG['interservice-bus']['mesh_port']: Field required"),
        ("MESH_CONFIG", '{"interservice-bus": {"mesh_address": "mq", "mesh_port": 99999}}', "mesh_port']: Input should be less than 65536"),
        ("RETRY_CONFIG", "three", "RETRY_CONFIG: not valid JSON"),
        ("RETRY_CONFIG", '{"attempts": 0}', "RETRY_CONFIG['attempts']: Input should be greater than or equal to 1"),
        ("RETRY_CONFIG", '{"backoff": 0.5}', "RETRY_CONFIG['backoff']: Input should be greater than or equal to 1"),
        ("RETRY_CONFIG", '{"tries": 3}', "RETRY_CONFIG['tries']: Extra inputs are not permitted"),
        ("ISB_QUEUE_TYPE", "stream", "ISB_QUEUE_TYPE: Input should be 'classic' or 'quorum'"),
    ],
)  # fmt: skip
def test_bad_event_settings_name_the_variable(monkeypatch, variable, value, fragment):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert fragment in str(caught.value)
    events_on = {variable: value, "EVENTS_ENABLED": "true"}
    completed = run_cli("run-task", "sample_tasks:Echo", *IDENTITY, **events_on)
    assert completed.returncode == 2
    assert fragment in completed.stderr
    # With events off too, a set event variable is checked as `processing-core settings`
    # checks it: the mistake shows now, not on the day events are turned on.
    quiet = run_cli("run-task", "sample_tasks:Echo", *IDENTITY, **{variable: value})
    assert quiet.returncode == 2 and fragment in quiet.stderr, quiet.stderr


def test_mesh_config_gives_the_address_and_isb_host_wins(monkeypatch):
    monkeypatch.setenv(
        "MESH_CONFIG", '{"interservice-bus": {"mesh_address": "mq.internal", "mesh_port": 5673}}'
    )
    assert load_settings().isb_address() == ("mq.internal", 5673)
    monkeypatch.setenv("ISB_HOST", "override")
    assert load_settings().isb_address() == ("override", 5673)
    monkeypatch.delenv("MESH_CONFIG")
    monkeypatch.delenv("ISB_HOST")
    assert load_settings().isb_address() == ("localhost", 5672)


def test_password_is_never_shown(monkeypatch):
    monkeypatch.setenv("ISB_PASSWORD", "s3cret-pw")
    settings = load_settings()
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings.model_dump())
    assert settings.isb_password.get_secret_value() == "s3cret-pw"


def test_tail_prints_live_events(bus, tmp_path):
    tail = subprocess.Popen(
        [str(Path(sys.executable).parent / "processing-core"), "events", "tail",
         "--workflow", "l0_to_l1_vbi", "--count", "2", "--timeout", "20"],
        env=subprocess_env(**bus.env()), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_until_following(tail)
    ok = run_task("sample_tasks:Echo", bus, tmp_path)
    assert ok.returncode == 0, ok.stderr
    out, err = tail.communicate(timeout=30)
    assert tail.returncode == 0, err
    lines = [line for line in out.splitlines() if "l0_to_l1_vbi" in line]
    assert len(lines) == 2
    assert "task.started" in lines[0] and "the_task#2" in lines[0]
    assert "task.succeeded" in lines[1] and "outputs: identity, inputs, parameters" in lines[1]


def test_the_result_stays_the_last_line_of_output_with_events_on(bus, tmp_path):
    # The local target's XCom is the last line the task prints, after every log line the
    # event and telemetry machinery writes (stderr and stdout are one stream there).
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "processing-core"), "run-task", "sample_tasks:Echo",
         *IDENTITY, "--result-path=-"],
        env=subprocess_env(**bus.env(EVENTS_OUTBOX=str(tmp_path), LOGURU_LEVEL="DEBUG")),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout
    assert json.loads(completed.stdout.splitlines()[-1])["status"] == "success"
    assert len(bus.messages(expected=2)) == 2
