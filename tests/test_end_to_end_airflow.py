"""End to end: the example exported for the `local` target runs under `airflow dags test`.

A real Airflow (SQLite metadata database in a temporary AIRFLOW_HOME) schedules every
task; each runs `processing-core run-task` in a subprocess, and downstream tasks receive
their upstreams' outputs through XCom.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from conftest import EXAMPLE_VERSION, VENV_BIN, airflow, airflow_env
from rabbitmq import Bus, require_rabbitmq

pytestmark = [pytest.mark.slow, pytest.mark.java]  # the example's Spark step runs
L1_DAG = f"l0_to_l1_vbi_{EXAMPLE_VERSION}"
QUICKLOOK_DAG = f"l0_to_quicklook_vbi_{EXAMPLE_VERSION}"


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory, local_dags: Path) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow-home")
    # Spark tasks of the local target go through spark-submit (pyspark's) to this master.
    spark = json.dumps({"conn_type": "spark", "host": "local[2]"})
    env = airflow_env(home, local_dags, AIRFLOW_CONN_SPARK_DEFAULT=spark)
    return env


def dags_test(
    env: dict[str, str], dag_id: str, conf: dict, *logical_date: str
) -> subprocess.CompletedProcess[str]:
    return airflow(env, "dags", "test", dag_id, *logical_date, "--conf", json.dumps(conf))


def query(env: dict[str, str], sql: str, dag_id: str) -> list[tuple]:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as connection:
        return connection.execute(sql, (dag_id,)).fetchall()


ASSET_EVENTS = (
    "SELECT asset.name, asset_event.extra FROM asset_event JOIN asset "
    "ON asset.id = asset_event.asset_id WHERE asset_event.source_dag_id = ?"
)


def task_states(env: dict[str, str], dag_id: str) -> dict[str, str]:
    return dict(query(env, "SELECT task_id, state FROM task_instance WHERE dag_id = ?", dag_id))


def xcom_results(env: dict[str, str], dag_id: str) -> dict[str, dict]:
    sql = "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value'"
    return {task_id: json.loads(value) for task_id, value in query(env, sql, dag_id)}


def test_every_task_succeeds_and_downstream_tasks_get_upstream_outputs(airflow_home, tmp_path):
    conf = {"data_root": str(tmp_path), "frame_size": 8}
    completed = dags_test(airflow_home, L1_DAG, conf, "2026-11-01T06:00:00+00:00")
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    assert task_states(airflow_home, L1_DAG) == {
        "ingest": "success",
        "calibrate": "success",
        "quality_check": "success",
        "make_products": "success",
        "frame_statistics": "success",
        "publish": "success",
    }
    results = xcom_results(airflow_home, L1_DAG)
    assert {r["status"] for r in results.values()} == {"success"}
    # The tasks' own log lines read as lines under Airflow's, not JSON nested in them.
    assert f" | INFO     | l0_to_l1_vbi {EXAMPLE_VERSION} " in completed.stdout
    assert '"level": "INFO"' not in completed.stdout
    # A task's log starts with a sentence, not the shell script, and its result line reads
    # as one (the XCom keeps the document).
    assert "Running the task (processing-core run-task); its log follows" in completed.stdout
    for noise in ("Running command: ['", "Tmp dir root location", '{"status": "success"'):
        assert noise not in completed.stdout, noise
    assert "Result: success; outputs: frame_count, frame_size, frames_path" in completed.stdout
    # Every XCom is the result object itself (the BashOperator's text line is parsed).
    sql = "SELECT value FROM xcom WHERE dag_id = ? AND key = 'return_value'"
    assert all(isinstance(json.loads(value), dict) for (value,) in query(airflow_home, sql, L1_DAG))
    assert results["ingest"]["outputs"]["frame_size"] == 8  # the triggered parameter arrived
    assert results["ingest"]["metrics"] == {"pixels_ingested": 4 * 8 * 8}
    # calibrate read ingest's frames through inputs["ingest"]["frames_path"]
    assert results["calibrate"]["outputs"]["frame_count"] == 4
    (run_folder,) = tmp_path.iterdir()
    manifest = json.loads((run_folder / "manifest.json").read_text())
    # publish received both upstreams' outputs
    assert manifest["quality"] == results["quality_check"]["outputs"]
    # the Spark step really ran (local pyspark) and its outputs travelled to publish
    assert manifest["statistics"] == results["frame_statistics"]["outputs"]
    assert len(manifest["statistics"]["frames"]) == 4
    assert results["frame_statistics"]["metrics"] == {"pixels": 4 * 8 * 8}
    # ... submitted by SparkSubmitOperator to the master of the spark_default connection
    assert "Spark-Submit cmd: spark-submit --master local[2]" in completed.stdout
    assert manifest["product_path"] == results["make_products"]["outputs"]["product_path"]
    assert manifest["workflow"] == "l0_to_l1_vbi"
    assert manifest["version"] == EXAMPLE_VERSION
    assert manifest["authenticated"] is False
    # The run's identity reached the task through the operator's templates.
    assert manifest["logical_date"] == "2026-11-01T06:00:00+00:00"
    assert manifest["run_type"] == "manual"
    # The assets publish and the Spark step produce: events with the extra they reported,
    # the Spark one under the URI of the run's date (an AssetAlias outlet).
    events = dict(query(airflow_home, ASSET_EVENTS, L1_DAG))
    assert json.loads(events["vbi_l1_products"]) == {
        "manifest_path": results["publish"]["outputs"]["manifest_path"], "frames": 4
    }  # fmt: skip
    assert json.loads(events["file:///data/vbi/statistics/2026-11-01"]) == {"frames": 4}


def test_a_failing_task_fails_the_run_and_its_events_arrive(airflow_home, tmp_path):
    require_rabbitmq()
    bus = Bus()
    conf = {"data_root": str(tmp_path), "frame_size": 4, "max_noise": 0.001}
    try:
        completed = dags_test(
            {**airflow_home, **bus.env(EVENTS_OUTBOX=str(tmp_path / "outbox"))}, QUICKLOOK_DAG, conf
        )
        events = [json.loads(body) for _, _, body in bus.messages(expected=100, timeout=3)]
    finally:
        bus.delete()
    states = task_states(airflow_home, QUICKLOOK_DAG)
    assert states["ingest"] == "success"
    assert states["calibrate"] == "success"
    assert states["check_raw"] == "failed"
    assert states["check_calibrated"] == "failed"
    assert "is above max_noise=0.001" in completed.stdout + completed.stderr
    seen = {(e["source"], e["kind"], e["task_id"]) for e in events}
    # From the entrypoint in each task's process, and from Airflow's failure callback.
    assert {
        ("task", "task.started", "ingest"),
        ("task", "task.succeeded", "ingest"),
        ("task", "task.succeeded", "calibrate"),
        ("task", "task.failed", "check_raw"),
        ("task", "task.failed", "check_calibrated"),
        ("airflow", "task.failed", "check_raw"),
        ("airflow", "task.failed", "check_calibrated"),
        ("airflow", "run.failed", None),  # the DAG run's own failure callback
    } <= seen
    # The run's failure names a task that failed, and why the run failed.
    (run_failed,) = [e for e in events if (e["source"], e["kind"]) == ("airflow", "run.failed")]
    assert run_failed["error"]["message"].startswith("task_failure; failed: check_")
    assert "(try 1)" in run_failed["error"]["message"]
    # Each callback says in one line what it published; pika's narration stays out.
    output = completed.stdout + completed.stderr
    assert f"processing-core published event run.failed ({run_failed['event_id']})" in output
    assert "Pika version" not in output and "Created channel" not in output
    for event in events:
        assert event["workflow_name"] == "l0_to_quicklook_vbi"
        assert event["workflow_version"] == EXAMPLE_VERSION
        assert event["dag_id"] == QUICKLOOK_DAG


def test_sys_exit_never_passes_for_success_and_late_output_never_becomes_xcom(
    airflow_home, tmp_path
):
    dags = tmp_path / "dags"
    completed = subprocess.run(
        [str(VENV_BIN / "processing-core"), "export", "hostile_exits", "--out", str(dags),
         "--target", "local"],
        env=airflow_home, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    env = {**airflow_home, "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    dag_id = "raw_to_checked_exits_1.0.0"
    completed = dags_test(env, dag_id, {"markers": str(tmp_path / "markers")})
    states = task_states(env, dag_id)
    assert states == {
        "exits_zero": "failed",  # rolled back after sys.exit(0): never a success
        "after_exit_zero": "upstream_failed",
        "exits_99": "failed",  # not "skipped" (the BashOperator's reading of 99)
        "after_exit_99": "upstream_failed",
        "noisy": "success",
        "after_noisy": "success",
        "spark_fails": "failed",
    }, states
    # spark-submit's exit code says little: the task's own error is what Airflow reports.
    assert "Spark task spark_fails failed: RuntimeError: counted 3, then failed on purpose" in (
        completed.stdout + completed.stderr
    )
    results = xcom_results(env, dag_id)
    # The noisy task printed after its result (atexit, a thread): its XCom is still the result.
    assert results["noisy"]["status"] == "success"
    assert results["after_noisy"]["outputs"]["inputs"]["noisy"]["identity"][0] == (
        "raw_to_checked_exits"
    )
