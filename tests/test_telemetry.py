"""Traces, metrics and logs of real task runs: a real OTLP/HTTP receiver on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import EXAMPLE_VERSION, load_dagbag, run_cli, subprocess_env, template_context
from otlp import Receiver, attributes

IDENTITY = [
    "--workflow-name=l0_to_l1_vbi", "--workflow-version=3.0.0", "--dag-id=l0_to_l1_vbi_3.0.0",
    "--run-id=manual__7", "--try-number=2",
]  # fmt: skip
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def run_task(task: str, task_id: str, receiver: Receiver, *args: str, **env: str):
    return run_cli("run-task", task, *IDENTITY, f"--task-id={task_id}", *args,
                   **receiver.env(), **env)  # fmt: skip


def by_name(spans) -> dict:
    return {span.name: (resource, span) for resource, span in spans}


def test_spans_and_metrics_of_a_successful_task(receiver, tmp_path):
    completed = run_task(
        "sample_tasks:Traced", "fit", receiver, POD_NAME="fit-abc12", POD_NAMESPACE="science"
    )
    assert completed.returncode == 0, completed.stderr
    spans = by_name(receiver.wait_for_spans(5))
    assert set(spans) == {"task fit", "pre_run", "run", "fit model", "post_run"}
    resource, task_span = spans["task fit"]
    assert task_span.parent_span_id == b""  # no TRACEPARENT: a trace of its own
    expected = {
        "service.name": "processing-core",
        "processing_core.workflow.name": "l0_to_l1_vbi",
        "processing_core.workflow.version": "3.0.0",
        "airflow.dag_id": "l0_to_l1_vbi_3.0.0",
        "airflow.run_id": "manual__7",
        "airflow.task_id": "fit",
        "airflow.try_number": 2,
        "k8s.pod.name": "fit-abc12",
        "k8s.namespace.name": "science",
    }
    resource_attributes = attributes(resource.attributes)
    assert {key: resource_attributes.get(key) for key in expected} == expected
    for step in ("pre_run", "run", "post_run"):
        assert spans[step][1].parent_span_id == task_span.span_id
        assert spans[step][1].trace_id == task_span.trace_id
    assert spans["fit model"][1].parent_span_id == spans["run"][1].span_id
    assert task_span.status.code != 2  # not ERROR
    points = receiver.metric_points()
    (executed,) = points["processing_core.tasks.executed"]
    assert executed.as_int == 1
    assert attributes(executed.attributes) == {
        "workflow": "l0_to_l1_vbi",
        "version": "3.0.0",
        "task": "fit",
    }
    assert points["processing_core.tasks.failed"][0].as_int == 0
    (duration,) = points["processing_core.task.duration"]
    assert duration.count == 1 and duration.sum > 0


def test_a_failing_task_records_the_error(receiver, tmp_path):
    completed = run_task(
        "sample_tasks:Failing", "failing", receiver, f'--parameters={{"markers": "{tmp_path}"}}'
    )
    assert completed.returncode == 1
    spans = by_name(receiver.wait_for_spans(4))
    task_span = spans["task failing"][1]
    assert task_span.status.code == 2  # ERROR
    assert "RuntimeError: calibration frames are missing" in task_span.status.message
    assert [event.name for event in task_span.events] == ["exception"]
    assert spans["run"][1].status.code == 2
    assert spans["rollback"][1].parent_span_id == task_span.span_id
    assert "post_run" not in spans
    assert receiver.metric_points()["processing_core.tasks.failed"][0].as_int == 1


def test_traceparent_continues_airflows_trace(receiver):
    completed = run_task("sample_tasks:Echo", "echo", receiver,
                         TRACEPARENT=f"00-{TRACE_ID}-{PARENT_ID}-01", TRACESTATE="vendor=x")  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    task_span = by_name(receiver.wait_for_spans(4))["task echo"][1]
    assert task_span.trace_id.hex() == TRACE_ID
    assert task_span.parent_span_id.hex() == PARENT_ID
    assert task_span.trace_state == "vendor=x"


def test_spans_are_flushed_on_sigterm(receiver, tmp_path):
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "processing-core"), "run-task", "sample_tasks:Sleeping",
         *IDENTITY, "--task-id=sleeping", f'--parameters={{"markers": "{tmp_path}"}}'],
        env=subprocess_env(**receiver.env()), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "run").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 143
    task_span = by_name(receiver.wait_for_spans(3))["task sleeping"][1]
    assert task_span.status.code == 2
    assert "Terminated" in task_span.status.message or "TaskTerminated" in task_span.status.message


def test_json_logs_carry_identity_and_trace_and_never_secrets(receiver):
    completed = run_task("sample_tasks:Traced", "fit", receiver, LOG_FORMAT="json",
                         DB_PASSWORD="correct-horse-battery", ISB_PASSWORD="rabbit-secret")  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stderr.splitlines() if line.strip()]
    assert lines, completed.stderr
    trace_id = by_name(receiver.wait_for_spans(5))["task fit"][1].trace_id.hex()
    for line in lines:
        assert {"time", "level", "message"} <= line.keys()
        assert (line["workflow"], line["version"], line["run_id"], line["task_id"], line["try_number"]) == (
            "l0_to_l1_vbi", "3.0.0", "manual__7", "fit", 2,
        )  # fmt: skip
        assert line["trace_id"] == trace_id
        assert len(line["span_id"]) == 16
    messages = [line["message"] for line in lines]
    assert "connecting with password ********" in messages
    assert "library says hello" in messages  # standard logging, routed into loguru
    assert "correct-horse-battery" not in completed.stderr + completed.stdout
    assert "rabbit-secret" not in completed.stderr + completed.stdout


def test_human_logs_by_default_off_a_terminal_are_json_and_human_on_request():
    human = run_cli(
        "run-task", "sample_tasks:Echo", *IDENTITY, "--task-id=echo", LOG_FORMAT="human"
    )
    assert human.returncode == 0
    assert " | INFO     | l0_to_l1_vbi 3.0.0 manual__7 echo#2 " in human.stderr
    default = run_cli("run-task", "sample_tasks:Echo", *IDENTITY, "--task-id=echo")
    assert json.loads(default.stderr.splitlines()[0])["task_id"] == "echo"


def test_generated_pods_and_spark_applications_carry_the_trace_context(kubernetes_dags, local_dags):
    class TaskInstance:
        try_number = 1
        context_carrier = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "tracestate": "a=b"}

        def xcom_pull(self, task_ids):
            return {"status": "success", "outputs": {"frames_path": "/x.json"}}

    context = template_context(TaskInstance(), run_id="r")
    dag = load_dagbag(kubernetes_dags).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"]
    pod_task = dag.get_task("calibrate")
    pod_task.render_template_fields(context)
    env = {
        e.name: e.value for e in pod_task.build_pod_request_obj(dry_run=True).spec.containers[0].env
    }
    assert env["TRACEPARENT"] == f"00-{TRACE_ID}-{PARENT_ID}-01"
    assert env["TRACESTATE"] == "a=b"
    spark_task = dag.get_task("frame_statistics")
    spark_task.render_template_fields(context)
    driver_env = {
        e["name"]: e.get("value")
        for e in spark_task.template_spec["spark"]["spec"]["driver"]["env"]
    }
    assert driver_env["TRACEPARENT"] == f"00-{TRACE_ID}-{PARENT_ID}-01"
    local = load_dagbag(local_dags).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"].get_task("ingest")
    local.render_template_fields(context)
    assert local.env["TRACEPARENT"] == f"00-{TRACE_ID}-{PARENT_ID}-01"
    # Without Airflow tracing the carrier is empty, and so are the variables.
    TaskInstance.context_carrier = None
    other = load_dagbag(local_dags).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"].get_task("ingest")
    other.render_template_fields(context)
    assert other.env["TRACEPARENT"] == ""


def test_grpc_export_reaches_a_real_grpc_receiver():
    from otlp import GrpcReceiver

    receiver = GrpcReceiver()
    try:
        completed = run_task("sample_tasks:Echo", "echo", receiver)
        assert completed.returncode == 0, completed.stderr
        spans = by_name(receiver.wait_for_spans(4))
        assert {"task echo", "pre_run", "run", "post_run"} <= set(spans)
        assert receiver.metric_points()["processing_core.tasks.executed"][0].as_int == 1
    finally:
        receiver.close()
