"""Skipping finished work: a task whose complete() says its work is done is skipped, in
`run-task`, `processing-core run`, the testing helpers and Airflow, and its downstream tasks
still run with the outputs it recorded."""

from __future__ import annotations

import json

import complete_pipeline
import pytest
from conftest import airflow, airflow_env, run_cli
from rabbitmq import Bus, require_rabbitmq

from processing_core.airflow_callbacks import ResultHook
from processing_core.testing import run_task

IDENTITY = ("--workflow-name=raw_to_product_complete", "--workflow-version=1.0.0",
            "--task-id=produce", "--result-path=-")  # fmt: skip


def run_produce(work, **env):
    completed = run_cli("run-task", "complete_pipeline:Produce", *IDENTITY,
                        f'--parameters={{"work": "{work}"}}', **env)  # fmt: skip
    return completed, json.loads(completed.stdout.strip().splitlines()[-1])


def test_run_task_skips_finished_work_with_exit_code_0_and_the_recorded_outputs(tmp_path):
    completed, result = run_produce(tmp_path)
    assert completed.returncode == 0 and result["status"] == "success"
    assert result["outputs"]["made_now"] is True
    completed, result = run_produce(tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert result == {
        "status": "skipped", "message": "product.json already made", "metrics": {},
        "outputs": {"product": str(tmp_path / "product.json"), "made_now": False},
    }  # fmt: skip
    assert "Task produce skipped: complete() found its work done" in completed.stderr


def test_a_skipped_task_sends_a_skipped_event(tmp_path):
    require_rabbitmq()
    (tmp_path / "product.json").write_text("{}")
    bus = Bus()
    try:
        completed, _ = run_produce(tmp_path, **bus.env(EVENTS_OUTBOX=str(tmp_path / "outbox")))
        kinds = [json.loads(body)["kind"] for _, _, body in bus.messages(expected=2, timeout=5)]
    finally:
        bus.delete()
    assert completed.returncode == 0
    assert kinds == ["task.started", "task.skipped"]


def test_complete_must_say_true_or_false():
    completed = run_cli("run-task", "complete_pipeline:SaysMaybe", *IDENTITY)
    assert completed.returncode == 1
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (
        "SaysMaybe.complete() returned str; return True when the work is already done"
        in (result["message"])
    )


def test_the_testing_helper_reports_a_skip(tmp_path):
    (tmp_path / "product.json").write_text("{}")
    result = run_task(complete_pipeline.Produce, workflow=complete_pipeline.made,
                      parameters={"work": str(tmp_path)})  # fmt: skip
    assert result.status == "skipped" and result.outputs["made_now"] is False


@pytest.mark.slow
def test_a_local_run_skips_and_its_downstream_gets_the_recorded_outputs(tmp_path):
    (tmp_path / "product.json").write_text("{}")
    completed = run_cli("run", "complete_pipeline", "--run-dir", str(tmp_path / "runs"),
                        "--param", f"work={tmp_path}", cwd=tmp_path)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    (folder,) = (tmp_path / "runs" / "raw_to_product_complete_1.0.0").iterdir()
    summary = json.loads((folder / "run.json").read_text())
    assert {t: r["state"] for t, r in summary["tasks"].items()} == {
        "produce": "skipped", "consume": "success"
    }  # fmt: skip
    consumed = json.loads((folder / "consume" / "result.json").read_text())
    assert consumed["outputs"]["from_produce"]["made_now"] is False


class TaskInstance:
    def __init__(self) -> None:
        self.pushed: list[tuple[str, object]] = []

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed.append((key, value))


def test_the_result_hook_pushes_the_result_object_and_skips_a_skipped_task():
    from airflow.sdk.exceptions import AirflowSkipException

    hook, ti = ResultHook(), TaskInstance()
    result = {"status": "skipped", "message": "already made", "outputs": {"a": 1}, "metrics": {}}
    with pytest.raises(AirflowSkipException, match="already made"):
        hook({"ti": ti}, result)
    assert ti.pushed == [("return_value", result)]
    hook({"ti": ti}, {"status": "success", "outputs": {}})  # Airflow pushes that itself
    hook({"ti": ti}, "not json")
    assert len(ti.pushed) == 1

    class BashTask:
        do_xcom_push = False  # the local target: the hook pushes the object

    hook({"ti": ti, "task": BashTask()}, '{"status": "success", "outputs": {"n": 1}}')
    assert ti.pushed[-1] == ("return_value", {"status": "success", "outputs": {"n": 1}})


@pytest.mark.slow
def test_airflow_shows_the_task_skipped_and_runs_its_downstream(tmp_path):
    """For real: the local target's DAG under `airflow dags test` (SQLite)."""
    import sqlite3

    dags, home = tmp_path / "dags", tmp_path / "home"
    exported = run_cli("export", "complete_pipeline", "--out", str(dags), "--target", "local")
    assert exported.returncode == 0, exported.stderr
    env = airflow_env(home, dags)
    (tmp_path / "product.json").write_text("{}")
    dag_id = "raw_to_product_complete_1.0.0"
    tested = airflow(env, "dags", "test", dag_id, "--conf", json.dumps({"work": str(tmp_path)}))
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    with sqlite3.connect(home / "airflow.db") as db:
        states = dict(db.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ?", (dag_id,)))  # fmt: skip
        xcom = dict(db.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value'",
            (dag_id,)))  # fmt: skip
    assert states == {"produce": "skipped", "consume": "success"}
    consumed = json.loads(xcom["consume"])  # the result object, as on Kubernetes
    assert consumed["outputs"]["from_produce"] == {
        "product": str(tmp_path / "product.json"), "made_now": False
    }  # fmt: skip


@pytest.mark.parametrize("target", ["kubernetes", "local"])
def test_every_generated_operator_carries_the_skip_hook_and_none_failed(kubernetes_dags,
                                                                         local_dags, target):  # fmt: skip
    from conftest import EXAMPLE_VERSION, load_dagbag

    folder = kubernetes_dags if target == "kubernetes" else local_dags
    dag = load_dagbag(folder).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"]
    kinds = set()
    for task in dag.tasks:
        assert isinstance(task._post_execute_hook, ResultHook), task.task_id
        assert task.trigger_rule == "none_failed", task.task_id
        kinds.add(type(task).__name__)
    # Pods, SparkApplications, and on the local target BashOperator and spark-submit.
    assert kinds == ({"PodTask", "SparkApplicationTask"} if target ==
                     "kubernetes" else {"LocalTask", "SparkSubmitTask"})  # fmt: skip
