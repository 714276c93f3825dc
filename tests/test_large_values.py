"""Run values larger than one argument (Linux: 128 KiB) reach `run-task` on every target:
the generated tasks' `pre_execute` (RunValuesHook) moves them into numbered environment
variables after Airflow rendered the templates. Proved with the real operators: the pod the
KubernetesPodOperator builds is validated and its container's command really executed here
(the same exec limits as on a node); the local target runs under `airflow dags test`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
from conftest import (
    VENV_BIN,
    airflow_env,
    load_dagbag,
    option,
    run_cli,
    subprocess_env,
    template_context,
)
from kubernetes.client import ApiClient

from processing_core.airflow_callbacks import RunValuesHook

K8S_VERSION = "1.37.0"
DAG_ID = "raw_to_measured_payload_1.0.0"
PAYLOAD = "é" + "x" * (200 * 1024)  # a parameter over 128 KiB (and not only ASCII)


class TaskInstance:
    """What the templates ask of Airflow's task instance, and the task the hook rewrites."""

    def __init__(self, task, xcoms: dict) -> None:
        self.task, self.try_number, self.xcoms = task, 1, xcoms

    def xcom_pull(self, task_ids: str):
        return self.xcoms[task_ids]


@pytest.fixture(scope="module")
def payload_dags(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("payload-dags")
    for target in ("kubernetes", "local"):
        made = run_cli("export", "chain_pipeline", "--out", str(out / target), "--target", target)
        assert made.returncode == 0, made.stderr
    return out


def rendered_combine(folder: Path, work: Path):
    """The `combine` task of the payload workflow, rendered for a run whose payload is 200 KiB
    and whose three upstreams each passed on 60,000 characters."""
    dag = load_dagbag(folder).dags[DAG_ID]
    task = dag.get_task("combine")
    upstream = {
        name: {"status": "success", "outputs": {"characters": len(PAYLOAD), "part": "p" * 60_000}}
        for name in ("measure_a", "measure_b", "measure_c")
    }
    params = {"work": str(work), "payload": PAYLOAD}
    ti = TaskInstance(task, upstream)
    context = template_context(ti, params, conf=params)
    task.render_template_fields(context)
    return task, context


def run_container(pod: dict, result: Path) -> subprocess.CompletedProcess[str]:
    """Execute the pod's container command here, with the pod's environment: what the
    container runtime would exec (the result goes to `result` instead of the XCom volume)."""
    container = pod["spec"]["containers"][0]
    arguments = [
        f"--result-path={result}" if a.startswith("--result-path=") else a
        for a in container["args"]
    ]
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    return subprocess.run(
        [str(VENV_BIN / container["command"][0]), *arguments],
        env=subprocess_env(**env), capture_output=True, text=True,
    )  # fmt: skip


def test_a_pod_gets_a_200_kib_parameter_and_180_kb_of_inputs(payload_dags, tmp_path):
    task, context = rendered_combine(payload_dags / "kubernetes", tmp_path)
    assert len(option(task.arguments, "parameters").encode()) > 128 * 1024
    assert len(option(task.arguments, "inputs").encode()) > 128 * 1024
    unfit = ApiClient().sanitize_for_serialization(task.build_pod_request_obj(dry_run=True))
    # As rendered, the container cannot even start: the kernel refuses the argument.
    with pytest.raises(OSError, match="Argument list too long"):
        run_container(unfit, tmp_path / "never.json")

    RunValuesHook()(context)  # what Airflow runs between rendering and execute()
    assert option(task.arguments, "parameters") == "@env:PROCESSING_CORE_VALUE_PARAMETERS"
    assert option(task.arguments, "inputs") == "@env:PROCESSING_CORE_VALUE_INPUTS"
    pod = ApiClient().sanitize_for_serialization(task.build_pod_request_obj(dry_run=True))
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    names = [item["name"] for item in pod["spec"]["containers"][0]["env"]]
    assert "PROCESSING_CORE_VALUE_PARAMETERS__3" in names
    assert all(len(a.encode()) < 128 * 1024 for a in pod["spec"]["containers"][0]["args"])

    completed = run_container(pod, tmp_path / "result.json")
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["outputs"] == {
        "received": {"measure_a": 60_000, "measure_b": 60_000, "measure_c": 60_000},
        "characters": len(PAYLOAD),
    }


def test_values_no_pod_can_hold_fail_the_task_at_once_naming_the_fix(payload_dags, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    dag = load_dagbag(payload_dags / "kubernetes").dags[DAG_ID]
    task = dag.get_task("measure_a")
    params = {"work": str(tmp_path), "payload": "z" * (1200 * 1024)}
    context = template_context(TaskInstance(task, {}), params, conf={})
    task.render_template_fields(context)
    with pytest.raises(AirflowFailException) as refused:  # fails without retries
        RunValuesHook()(context)
    assert str(refused.value).startswith("task measure_a: the run's values")
    assert "put large data in storage and pass its location" in str(refused.value)


def test_the_spark_application_driver_gets_large_values_through_its_environment(
    kubernetes_dags, crd_validator
):
    """The SparkKubernetesOperator's template: arguments move to the driver's env, and the
    application still validates against the Spark Operator's CRD."""
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import (
        CustomObjectLauncher,
    )
    from conftest import EXAMPLE_VERSION
    from test_spark import FakeTaskInstance

    dag = load_dagbag(kubernetes_dags).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"]
    task = dag.get_task("frame_statistics")
    ti = FakeTaskInstance()
    ti.task = task
    params = {"data_root": "/data", "seed": "s" * (150 * 1024)}
    context = template_context(ti, params)
    task.render_template_fields(context)
    RunValuesHook()(context)
    application = CustomObjectLauncher(
        name=task.create_job_name(), namespace=task.namespace, kube_client=None,
        custom_obj_api=None, template_body=task.template_body,
    ).body  # fmt: skip
    spec = application["spec"]
    assert option(spec["arguments"], "parameters") == "@env:PROCESSING_CORE_VALUE_PARAMETERS"
    driver_env = {item["name"]: item.get("value") for item in spec["driver"]["env"]}
    joined = (
        driver_env["PROCESSING_CORE_VALUE_PARAMETERS__1"]
        + driver_env["PROCESSING_CORE_VALUE_PARAMETERS__2"]
    )
    assert json.loads(joined) == params
    assert not any(e["name"].startswith("PROCESSING_CORE_VALUE") for e in spec["executor"]["env"])
    crd_validator.validate(application)


@pytest.mark.slow
def test_the_local_target_runs_a_200_kib_parameter_under_airflow(payload_dags, tmp_path):
    env = airflow_env(tmp_path / "home", payload_dags / "local")
    work = tmp_path / "work"
    work.mkdir()
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"work": str(work), "payload": PAYLOAD}))
    # What `airflow dags test DAG --conf JSON` runs (its own command line could not hold the
    # conf): the DAG's test run, a real task runner per task, from this conf.
    script = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"dag = DagBag().dags[{DAG_ID!r}]\n"
        "run = dag.test(run_conf=json.loads(open(sys.argv[1]).read()))\n"
        "sys.exit(0 if str(run.state) in ('success', 'DagRunState.SUCCESS') else 1)\n"
    )
    completed = subprocess.run([str(VENV_BIN / "python"), "-c", script, str(conf)], env=env,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    import sqlite3

    with sqlite3.connect(tmp_path / "home" / "airflow.db") as connection:
        rows = connection.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = 'return_value'", (DAG_ID,)
        ).fetchall()
    results = {task: json.loads(value) for task, value in rows}
    assert {r["status"] for r in results.values()} == {"success"}
    assert results["combine"]["outputs"]["characters"] == len(PAYLOAD)
    assert (work / "calls").read_text().split().count("combine") == 1


def test_spark_submit_gets_large_values_through_the_drivers_environment(local_dags):
    """The local target's Spark task (SparkSubmitTask, client mode): spark-submit passes its
    environment to the driver, which runs run-task."""
    from conftest import EXAMPLE_VERSION

    task = (
        load_dagbag(local_dags).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"].get_task("frame_statistics")
    )
    params = {"data_root": "/data", "seed": "s" * (150 * 1024)}
    ti = TaskInstance(task, {"calibrate": {"status": "success", "outputs": {"frames_path": "f"}}})
    context = template_context(ti, params)
    task.render_template_fields(context)
    RunValuesHook()(context)
    assert option(task.application_args, "parameters") == "@env:PROCESSING_CORE_VALUE_PARAMETERS"
    joined = "".join(task.env_vars[f"PROCESSING_CORE_VALUE_PARAMETERS__{n}"] for n in (1, 2))
    assert json.loads(joined) == params
    assert all(len(a.encode()) < 128 * 1024 for a in task.application_args)
