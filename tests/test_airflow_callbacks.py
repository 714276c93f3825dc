"""Events for what a task cannot report itself: Kubernetes' reasons, Airflow's retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException, NotFoundException
from rabbitmq import Bus, require_rabbitmq

from processing_core.airflow_callbacks import StatusCallback, termination_reason


def pod(
    container_state: k8s.V1ContainerState | None = None, reason: str | None = None
) -> k8s.V1Pod:
    statuses = None
    if container_state is not None:
        statuses = [k8s.V1ContainerStatus(name="base", image="i", image_id="", ready=False,
                                          restart_count=0, state=container_state)]  # fmt: skip
    return k8s.V1Pod(status=k8s.V1PodStatus(container_statuses=statuses, reason=reason))


def raised_while_handling(cause: BaseException) -> BaseException:
    """The operator's cleanup error, raised while `cause` was being handled."""
    error = RuntimeError("Pod x returned a failure.")
    error.__context__ = cause
    return error


@pytest.mark.parametrize(
    ("task", "exception", "reason"),
    [
        (SimpleNamespace(remote_pod=pod(k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled")))), None, "OOMKilled"),
        (SimpleNamespace(pod=pod(k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason="ImagePullBackOff")))), None, "ImagePullBackOff"),
        (SimpleNamespace(remote_pod=pod(reason="Evicted")), None, "Evicted"),
        (SimpleNamespace(remote_pod=pod(k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=1, reason="Error")))), RuntimeError("Pod returned a failure"), None),
        (None, RuntimeError("Pod x returned a failure: {'reason': 'OOMKilled', 'exit_code': 137}"), "OOMKilled"),
        (None, type("AirflowTaskTimeout", (Exception,), {})("Timeout, PID: 12"), "Timeout"),
        (None, ValueError("bad input"), None),
        # The operator's cleanup error, raised while handling the kubernetes client's 404
        # (either class, as whichever call met the deleted pod first raised it).
        (None, raised_while_handling(NotFoundException(status=404)), "PodDeleted"),
        (None, raised_while_handling(ApiException(status=404)), "PodDeleted"),
        (None, raised_while_handling(ApiException(status=500)), None),
        (None, raised_while_handling(type("AirflowTaskTimeout", (Exception,), {})()), "Timeout"),
        (SimpleNamespace(remote_pod=k8s.V1Pod(metadata=k8s.V1ObjectMeta(deletion_timestamp=datetime.now(UTC)), status=k8s.V1PodStatus())), None, "PodDeleted"),
    ],
)  # fmt: skip
def test_termination_reason(task, exception, reason):
    assert termination_reason(task, exception) == reason


class TaskInstance:
    dag_id, run_id, task_id, try_number = "l0_to_l1_vbi_1.0.0", "manual__1", "calibrate", 1

    @property
    def log_url(self) -> str:
        return "http://airflow.example.org/log?task_id=calibrate"


@pytest.fixture
def bus(monkeypatch, tmp_path):
    require_rabbitmq()
    bus = Bus()
    for key, value in bus.env(EVENTS_OUTBOX=str(tmp_path)).items():
        monkeypatch.setenv(key, value)
    yield bus
    bus.delete()


def test_retry_callback_publishes_the_pods_termination_reason(bus):
    oom = pod(
        k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled")
        )
    )
    callback = StatusCallback("task.retrying", "l0_to_l1_vbi", "1.0.0")
    callback({"ti": TaskInstance(), "task": SimpleNamespace(remote_pod=oom),
              "exception": RuntimeError("Pod calibrate-x returned a failure")})  # fmt: skip
    ((_properties, method, body),) = bus.messages(expected=1)
    event = json.loads(body)
    assert method.routing_key == "task.retrying"
    assert event["source"] == "airflow"
    assert (event["dag_id"], event["task_id"], event["try_number"]) == (
        "l0_to_l1_vbi_1.0.0",
        "calibrate",
        1,
    )
    assert event["error"]["type"] == "OOMKilled"
    assert event["log_url"] == "http://airflow.example.org/log?task_id=calibrate"


def test_a_callback_never_raises(monkeypatch, caplog):
    monkeypatch.setenv("RETRY_CONFIG", "not json")  # settings cannot even load
    StatusCallback("task.failed", "w", "1")({"ti": TaskInstance()})
    assert "could not publish the task.failed event" in caplog.text


def test_disabled_events_publish_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTS_ENABLED", "false")
    monkeypatch.setenv("ISB_PORT", "1")
    monkeypatch.setenv("EVENTS_OUTBOX", str(tmp_path))
    StatusCallback("task.failed", "w", "1")({"ti": TaskInstance()})
    assert list(tmp_path.iterdir()) == []


def test_a_callback_masks_the_workers_secrets_in_its_event(bus, monkeypatch, tmp_path):
    canary = "canary-worker-isb-9d1e"
    monkeypatch.setenv("ISB_PASSWORD", canary)  # the broker refuses it: the event is kept
    monkeypatch.setenv("RETRY_CONFIG", '{"attempts": 1}')
    StatusCallback("task.failed", "l0_to_l1_vbi", "1.0.0")(
        {"ti": TaskInstance(), "exception": RuntimeError(f"login with {canary} refused")}
    )
    (kept,) = tmp_path.glob("*.event")
    event = json.loads(kept.read_text())
    assert event["error"]["message"] == "login with ******** refused"
    assert canary not in kept.read_text()
