"""Assets in a real Airflow (the session's deployment, tests/deployment.py): a local-target
task updates an asset, with the extra it reported, and the workflow scheduled on that asset
runs, its task seeing the triggering event in its RunContext."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow
PRODUCER, CONSUMER = "raw_to_products_assets_1.0.0", "products_to_report_assets_1.0.0"


def test_an_updated_asset_runs_the_workflow_scheduled_on_it(airflow_deployment, tmp_path):
    deployment, _ = airflow_deployment
    deployment.wait_for(
        "both workflows parsed", lambda: {PRODUCER, CONSUMER} <= deployment.dag_ids()
    )
    deployment.api("PATCH", f"dags/{CONSUMER}", json={"is_paused": False})
    try:
        check_the_consumer_runs(deployment, tmp_path)
    finally:  # other tests run the producer too: their runs start no report here
        deployment.api("PATCH", f"dags/{CONSUMER}", json={"is_paused": True})


def check_the_consumer_runs(deployment, tmp_path) -> None:
    report = tmp_path / "report.json"
    run_id = deployment.trigger(PRODUCER, {"label": "b/c", "report_to": str(report)})
    deployment.wait_for(
        "the producer ends",
        lambda: deployment.run_state(PRODUCER, run_id) not in ("queued", "running"),
    )
    assert deployment.run_state(PRODUCER, run_id) == "success"
    written = deployment.wait_for(
        "the consumer's report", lambda: report.is_file() and report.read_text()
    )
    seen = json.loads(written)
    assert seen["run_type"] == "asset_triggered"
    (event,) = seen["events"]
    assert event["name"] == "test_products"
    assert event["uri"] == "file:///processing-core-test/products"
    assert event["extra"] == {"rows": 3, "report_to": str(report), "run_id": run_id}
    assert (event["source_dag_id"], event["source_task_id"]) == (PRODUCER, "make_product")
    # Airflow's asset view: the event of the URI the run rendered, with its extra.
    listed = deployment.api("GET", "assets/events", params={"source_dag_id": PRODUCER})
    by_uri = {e["uri"]: e["extra"] for e in listed["asset_events"] if e["source_run_id"] == run_id}
    # A manual run has no logical date: {ds} is the day it was triggered; the label is one
    # piece of the URI ('/' encoded).
    day = deployment.api("GET", f"dags/{PRODUCER}/dagRuns/{run_id}")["run_after"][:10]
    daily = f"file:///processing-core-test/daily/{day}/b%2Fc"
    assert set(by_uri) == {"file:///processing-core-test/products", daily}
    assert by_uri["file:///processing-core-test/products"]["rows"] == 3
    assert by_uri[daily] == {"label": "b/c"}
