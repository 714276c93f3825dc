"""OpenLineage from `run-task` (runtime/lineage.py), sent by the real OpenLineage client to a
real HTTP endpoint on loopback (tests/lineage_receiver.py): START then COMPLETE, FAIL or
ABORT per task run, named after the workflow, version and task, a child of Airflow's task
run, with the assets as datasets; masked; bounded when the endpoint is down or silent."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from conftest import run_cli
from lineage_receiver import LineageReceiver
from ports import HeldPort

IDENTITY = [
    "--workflow-name", "raw_to_products_assets", "--workflow-version", "1.2.0",
    "--dag-id", "raw_to_products_assets_1.2.0", "--task-id", "make_product",
]  # fmt: skip
PARENT = "airflow-ns/raw_to_products_assets_1.2.0.make_product/01932f5e-7a6b-7c3d-8e9f-0a1b2c3d4e5f"
ASSET_EVENTS = {"events": [{"name": "raw_frames", "uri": "s3://archive:9000/raw/frames",
                            "extra": {}, "timestamp": "2026-12-06T06:00:00+00:00"}],
                "omitted": 0}  # fmt: skip


@pytest.fixture
def receiver():
    endpoint = LineageReceiver()
    yield endpoint
    endpoint.close()


def make_product(tmp_path: Path, *extra: str, **env: str):
    result = tmp_path / "result.json"
    completed = run_cli(
        "run-task", "asset_pipeline:MakeProduct", *IDENTITY,
        "--parameters", json.dumps({"label": "night one", "report_to": ""}),
        "--logical-date", "2026-12-06T03:00:00+00:00",
        "--asset-events", json.dumps(ASSET_EVENTS), "--result-path", str(result), *extra,
        **env,
    )  # fmt: skip
    return completed, result


def test_a_task_run_sends_start_and_complete_as_a_child_of_airflows_task_run(tmp_path, receiver):
    completed, result = make_product(
        tmp_path, **receiver.env(OPENLINEAGE_NAMESPACE="pipelines", OPENLINEAGE_PARENT_ID=PARENT)
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(result.read_text())["status"] == "success"
    start, complete = receiver.events
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    assert start["run"]["runId"] == complete["run"]["runId"] != PARENT.split("/")[2]
    for event in (start, complete):
        assert event["job"]["namespace"] == "pipelines"
        assert event["job"]["name"] == "raw_to_products_assets.1.2.0.make_product"
        assert event["job"]["facets"]["jobType"]["jobType"] == "TASK"
        parent = event["run"]["facets"]["parent"]
        assert (parent["job"]["namespace"], parent["job"]["name"]) == (
            "airflow-ns", "raw_to_products_assets_1.2.0.make_product"
        )  # fmt: skip
        assert parent["run"]["runId"] == PARENT.split("/")[2]
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
            ("s3://archive:9000", "raw/frames")
        ]
        # The produced assets, the templated one rendered with the run's date and label.
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
            ("file", "/processing-core-test/products"),
            ("file", "/processing-core-test/daily/2026-12-06/night%20one"),
        ]


def test_a_failed_run_sends_fail_with_a_masked_error_and_no_secret(tmp_path, receiver):
    canary = "canary-db-password-8c1f"
    completed = run_cli(
        "run-task", "sample_tasks:BrokenInit", *IDENTITY, "--result-path", str(tmp_path / "r"),
        DB_PASSWORD=canary, **receiver.env(),
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    start, fail = receiver.events
    assert [start["eventType"], fail["eventType"]] == ["START", "FAIL"]
    error = fail["run"]["facets"]["errorMessage"]
    assert error["message"].startswith("RuntimeError: cannot start with ")
    assert error["programmingLanguage"] == "python"
    assert "sample_tasks.py" in error["stackTrace"] and "********" in error["stackTrace"]
    sent = json.dumps(receiver.events) + json.dumps(receiver.headers)
    assert canary not in sent and canary not in completed.stderr


def test_an_endpoint_that_is_down_costs_one_warning_and_loses_nothing_else(tmp_path):
    with HeldPort() as closed:  # bound, nothing listens: refused
        completed, result = make_product(tmp_path, OPENLINEAGE_URL=closed.url)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(result.read_text())["status"] == "success"
    warnings = [line for line in completed.stderr.splitlines() if "OpenLineage" in line]
    # The client retries a refused connection with backoff (its own transport settings):
    # either it gives up within the budget, or the budget ends the wait.
    assert len(warnings) == 1, warnings
    assert "could not send the START event" in warnings[0] or "within 1.0 s" in warnings[0]


def test_a_silent_endpoint_holds_the_task_no_longer_than_the_lineage_budget(tmp_path):
    # Accepts connections and never answers: the client alone would wait its own timeout
    # (60 s here) on each event; the task waits for lineage at most LINEAGE_TIMEOUT_SECONDS.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        began = time.monotonic()
        completed, result = make_product(
            tmp_path,
            OPENLINEAGE_URL=f"http://127.0.0.1:{silent.getsockname()[1]}",
            OPENLINEAGE__TRANSPORT__TYPE="http",
            OPENLINEAGE__TRANSPORT__URL=f"http://127.0.0.1:{silent.getsockname()[1]}",
            OPENLINEAGE__TRANSPORT__TIMEOUT="60",
            LINEAGE_TIMEOUT_SECONDS="1",
        )
        elapsed = time.monotonic() - began
    finally:
        silent.close()
    assert completed.returncode == 0, completed.stderr
    assert json.loads(result.read_text())["status"] == "success"
    warnings = [line for line in completed.stderr.splitlines() if "OpenLineage" in line]
    assert len(warnings) == 1 and "within 1.0 s" in warnings[0], warnings
    assert elapsed < 30, elapsed  # not the client's 60 s: the budget held


def test_an_empty_parent_from_an_airflow_without_openlineage_is_no_parent(tmp_path, receiver):
    # The DAG file renders OPENLINEAGE_PARENT_ID empty where Airflow has no OpenLineage.
    completed, _ = make_product(tmp_path, **receiver.env(OPENLINEAGE_PARENT_ID=""))
    assert completed.returncode == 0, completed.stderr
    assert [e["eventType"] for e in receiver.events] == ["START", "COMPLETE"]
    assert all("parent" not in e["run"]["facets"] for e in receiver.events)


def test_without_configuration_nothing_is_sent_or_imported(tmp_path, receiver):
    done = run_cli("run-task", "sample_tasks:ReportsLoaded", *IDENTITY, "--result-path", "-")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["outputs"]["openlineage"] is False
    disabled = run_cli(
        "run-task", "sample_tasks:ReportsLoaded", *IDENTITY, "--result-path", "-",
        OPENLINEAGE_DISABLED="true", **receiver.env(),
    )  # fmt: skip
    assert disabled.returncode == 0, disabled.stderr
    assert receiver.events == []


def test_a_bad_lineage_setting_is_named_before_the_task_runs(tmp_path):
    done = run_cli(
        "run-task", "sample_tasks:ReportsLoaded", *IDENTITY, "--result-path", "-",
        OPENLINEAGE_URL="http://127.0.0.1:9", OPENLINEAGE_PARENT_ID="not-a-parent",
    )  # fmt: skip
    assert done.returncode == 2
    assert "OPENLINEAGE_PARENT_ID" in done.stderr and "Traceback" not in done.stderr


def test_processing_core_run_sends_each_tasks_events(tmp_path, receiver):
    work = tmp_path / "work"
    work.mkdir()
    (work / "fixed").touch()
    done = run_cli(
        "run", "chain_pipeline", "--run-dir", str(tmp_path / "runs"),
        "--param", f"work={work}", cwd=tmp_path, **receiver.env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    jobs = receiver.by_job()
    assert jobs and all(types == ["START", "COMPLETE"] for types in jobs.values()), jobs
    assert {name.rsplit(".", 1)[1] for name in jobs} >= {"extract", "clean", "transform", "load"}


@pytest.mark.slow
@pytest.mark.java  # the example's Spark step runs
def test_airflow_dags_test_joins_each_tasks_lineage_with_airflows_own(tmp_path_factory, tmp_path):
    """The example on the local target under `airflow dags test`, with Airflow's OpenLineage
    provider sending its own events to the same endpoint: each task's run-task run is a child
    of the task run Airflow reports."""
    from conftest import EXAMPLE_VERSION, airflow, airflow_env, export_example

    dags = tmp_path_factory.mktemp("lineage-dags")
    export_example(dags, "local")
    receiver = LineageReceiver()
    canary = "canary-archive-token-5d2e"
    try:
        env = airflow_env(
            tmp_path_factory.mktemp("lineage-airflow"), dags,
            AIRFLOW_CONN_SPARK_DEFAULT=json.dumps({"conn_type": "spark", "host": "local[2]"}),
            OPENLINEAGE_NAMESPACE="pc-lineage", ARCHIVE_TOKEN=canary, **receiver.env(),
        )  # fmt: skip
        dag_id = f"l0_to_l1_vbi_{EXAMPLE_VERSION}"
        conf = {"data_root": str(tmp_path), "frame_size": 8}
        completed = airflow(env, "dags", "test", dag_id, "2026-11-01T06:00:00+00:00",
                            "--conf", json.dumps(conf))  # fmt: skip
        assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    finally:
        receiver.close()
    tasks = ["ingest", "calibrate", "quality_check", "make_products", "frame_statistics",
             "publish"]  # fmt: skip
    ours = {
        name: [e for e in receiver.events if e["job"]["name"] == name]
        for name in (f"l0_to_l1_vbi.{EXAMPLE_VERSION}.{task}" for task in tasks)
    }
    airflows = {  # Airflow's own events of each task run: job `<dag_id>.<task_id>`
        task: {e["run"]["runId"] for e in receiver.events if e["job"]["name"] == f"{dag_id}.{task}"}
        for task in tasks
    }
    for task in tasks:
        events = ours[f"l0_to_l1_vbi.{EXAMPLE_VERSION}.{task}"]
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"], (task, events)
        (airflow_run,) = airflows[task]  # one task run, reported by Airflow's integration
        for event in events:
            assert event["job"]["namespace"] == "pc-lineage"
            parent = event["run"]["facets"]["parent"]
            assert parent["run"]["runId"] == airflow_run, task
            assert parent["job"]["name"] == f"{dag_id}.{task}"
            assert parent["job"]["namespace"] == "pc-lineage"
    outputs = {
        task: [
            (d["namespace"], d["name"])
            for d in ours[f"l0_to_l1_vbi.{EXAMPLE_VERSION}.{task}"][-1]["outputs"]
        ]
        for task in tasks
    }
    assert outputs["publish"] == [("file", "/data/vbi/l1")], outputs
    assert ("file", "/data/vbi/statistics/2026-11-01") in outputs["frame_statistics"], outputs
    assert canary not in json.dumps(receiver.events)


def test_an_openlineage_file_in_the_working_folder_turns_lineage_on(tmp_path, receiver):
    # The client's own configuration file, found where it looks: no OPENLINEAGE_* variable.
    (tmp_path / "openlineage.yml").write_text(f"transport:\n  type: http\n  url: {receiver.url}\n")
    done = run_cli("run-task", "sample_tasks:ReportsLoaded", *IDENTITY, "--result-path", "-",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [e["eventType"] for e in receiver.events] == ["START", "COMPLETE"]
