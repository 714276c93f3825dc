"""Spark tasks: SparkApplications Kubernetes' Spark Operator accepts, settings that combine as
documented, and real runs with local pyspark."""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path

import invalid_tasks as t
import jsonschema
import pytest
import sample_tasks
from conftest import (
    EXAMPLE_VERSION,
    load_dagbag,
    option,
    run_cli,
    template_context,
)

from processing_core import RunContext, Workflow, WorkflowDefinitionError
from processing_core.airflow import to_dag
from processing_core.config import load_settings
from processing_core.errors import SettingsError
from processing_core.nodes.spark import XCOM_MOUNT, XCOM_SIDECAR, XCOM_VOLUME

# py4j logs "Closing down clientserver connection" at interpreter exit, after pytest has
# closed the streams it captured; that line says nothing about the tests.
logging.getLogger("py4j").setLevel(logging.WARNING)


class FakeTaskInstance:
    try_number = 1

    def xcom_pull(self, task_ids: str):
        return {"status": "success", "outputs": {"frames_path": f"/data/{task_ids}.json"}}


def submitted_application(operator) -> dict:
    """The SparkApplication the operator would submit, built offline by the provider's code."""
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import (
        CustomObjectLauncher,
    )

    operator.render_template_fields(template_context(FakeTaskInstance(), {"seed": 7}))
    launcher = CustomObjectLauncher(
        name=operator.create_job_name(),
        namespace=operator.namespace,
        kube_client=None,
        custom_obj_api=None,
        template_body=operator.template_body,
    )
    return launcher.body


def spark_operators(dag):
    return [task for task in dag.tasks if type(task).__name__ == "SparkApplicationTask"]


def test_example_spark_application_validates_against_the_crd(kubernetes_dags: Path, crd_validator):
    bag = load_dagbag(kubernetes_dags)
    assert bag.import_errors == {}
    (operator,) = spark_operators(bag.dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"])
    application = submitted_application(operator)
    crd_validator.validate(application)
    spec = application["spec"]
    assert application["metadata"]["name"].startswith("frame-statistics-")
    assert (spec["type"], spec["mode"], spec["image"]) == (
        "Python", "cluster", f"workflows:{EXAMPLE_VERSION}",
    )  # fmt: skip
    assert spec["arguments"][:2] == ["run-task", "workflows.tasks:FrameStatistics"]
    assert option(spec["arguments"], "run-id") == "manual__1"
    assert json.loads(option(spec["arguments"], "parameters")) == {"seed": 7}
    assert json.loads(option(spec["arguments"], "inputs"))["calibrate"]["outputs"]
    # The class's declaration over the defaults: executor 2g, dynamic allocation 1..4.
    assert spec["driver"]["memory"] == "1024m" and spec["driver"]["memoryOverhead"] == "512m"
    assert spec["executor"]["memory"] == "2048m" and spec["executor"]["instances"] == 1
    assert spec["dynamicAllocation"] == {
        "enabled": True, "initialExecutors": 1, "minExecutors": 1, "maxExecutors": 4,
    }  # fmt: skip
    assert spec["sparkConf"] == {"spark.sql.shuffle.partitions": "8"}
    assert spec["driver"]["annotations"]["example.org/team"] == "imaging"
    assert spec["restartPolicy"]["onSubmissionFailureRetries"] == 1
    assert spec["driver"]["labels"]["processing-core/task"] == "frame_statistics"


def test_schema_validation_really_rejects_a_broken_application(kubernetes_dags, crd_validator):
    (operator,) = spark_operators(
        load_dagbag(kubernetes_dags).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"]
    )
    application = submitted_application(operator)
    application["spec"]["executor"]["cores"] = 0
    with pytest.raises(jsonschema.ValidationError, match="less than the minimum of 1"):
        crd_validator.validate(application)


def sized_application(**settings_overrides) -> dict:
    workflow = Workflow("raw", "stats", "spark", version="2.0.0", workflow_package="sample_tasks")
    workflow.add_node(sample_tasks.SparkSized)
    dag = to_dag(workflow, settings=load_settings(**settings_overrides))
    return submitted_application(dag.get_task("spark_sized"))


def test_environment_sets_defaults_and_the_class_wins(monkeypatch, crd_validator):
    monkeypatch.setenv("SPARK_ON_K8S_DRIVER_CPU", "2")
    monkeypatch.setenv("SPARK_ON_K8S_DRIVER_MEMORY", "4g")
    monkeypatch.setenv("SPARK_ON_K8S_DRIVER_MEMORY_OVERHEAD", "768")
    monkeypatch.setenv("SPARK_ON_K8S_EXECUTOR_MEMORY", "1024")  # the class declares 3g
    monkeypatch.setenv("SPARK_ON_K8S_EXECUTOR_MEMORY_OVERHEAD", "1g")
    monkeypatch.setenv("SPARK_ON_K8S_EXECUTOR_MAX_INSTANCES", "8")  # the class declares 6
    monkeypatch.setenv(
        "SPARK_ON_K8S_SPARK_DRIVER_ANNOTATIONS", '{"shared": "from-env", "env.only/a": "x"}'
    )
    monkeypatch.setenv("SPARK_ON_K8S_SPARK_EXECUTOR_ANNOTATIONS", '{"my.annotation/executor": "v"}')
    application = sized_application()
    crd_validator.validate(application)
    driver, executor = application["spec"]["driver"], application["spec"]["executor"]
    assert (driver["cores"], driver["memory"], driver["memoryOverhead"]) == (2, "4096m", "768m")
    assert (executor["cores"], executor["memory"], executor["memoryOverhead"]) == (
        2,
        "3072m",
        "1024m",
    )
    assert application["spec"]["dynamicAllocation"]["maxExecutors"] == 6
    assert driver["annotations"]["shared"] == "from-class"
    assert driver["annotations"]["env.only/a"] == "x"
    assert driver["annotations"]["team.example.org/owner"] == "imaging"
    assert executor["annotations"]["my.annotation/executor"] == "v"
    assert "shared" not in executor["annotations"]


def test_defaults_without_environment_or_declaration(crd_validator):
    workflow = Workflow("raw", "count", "spark", version="2.0.0", workflow_package="sample_tasks")
    workflow.add_node(sample_tasks.SparkCount)
    spec = submitted_application(
        to_dag(workflow, settings=load_settings()).get_task("spark_count")
    )["spec"]
    crd_validator.validate(
        {
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            "metadata": {},
            "spec": spec,
        }
    )
    assert {k: spec["driver"][k] for k in ("cores", "memory", "memoryOverhead")} == {
        "cores": 1, "memory": "1024m", "memoryOverhead": "512m",
    }  # fmt: skip
    assert {k: spec["executor"][k] for k in ("cores", "instances", "memory", "memoryOverhead")} == {
        "cores": 1, "instances": 2, "memory": "1024m", "memoryOverhead": "512m",
    }  # fmt: skip
    assert "dynamicAllocation" not in spec  # 2 min == 2 max: a fixed size
    assert spec["restartPolicy"] == {"type": "Never"}


def test_secrets_service_account_profile_and_xcom_sidecar_reach_the_application(crd_validator):
    application = sized_application(
        k8s_service_account="spark-driver",
        k8s_image_pull_secrets="regcred",
        k8s_env_from_configmaps="processing-config",
        k8s_env_from_secrets="processing-secrets",
    )
    crd_validator.validate(application)
    spec = application["spec"]
    env = {item["name"]: item for item in spec["driver"]["env"]}
    assert env["DB_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "db-credentials", "key": "password"}
    }
    assert {item["name"] for item in spec["executor"]["env"]} >= {"DB_PASSWORD", "POD_NAME"}
    assert spec["driver"]["serviceAccount"] == "spark-driver"
    assert spec["executor"]["envFrom"] == [
        {"configMapRef": {"name": "processing-config"}},
        {"secretRef": {"name": "processing-secrets"}},
    ]
    assert spec["imagePullSecrets"] == ["regcred"]
    assert spec["restartPolicy"]["type"] == "OnFailure"
    assert spec["driver"]["sidecars"][0]["name"] == "airflow-xcom-sidecar"


def test_strings_ending_like_template_files_stay_literal(crd_validator):
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import (
        SparkKubernetesOperator,
    )

    from processing_core.nodes.spark import SPARK_TEMPLATE_EXTENSIONS

    assert tuple(SparkKubernetesOperator.template_ext) == SPARK_TEMPLATE_EXTENSIONS
    workflow = Workflow("raw", "stats", "spark", version="2.0.0", workflow_package="invalid_tasks")
    workflow.add_node(
        t._spark(
            "ToJson", spark_conf={"spark.files": 'C:\\conf\\"app".yaml', "spark.x": "é€.json"}
        ),
        task_id="to_json",
    )
    application = submitted_application(
        to_dag(workflow, settings=load_settings()).get_task("to_json")
    )
    crd_validator.validate(application)
    spec = application["spec"]
    assert spec["sparkConf"] == {"spark.files": 'C:\\conf\\"app".yaml', "spark.x": "é€.json"}
    assert option(spec["arguments"], "task-id") == "to_json"
    assert option(spec["arguments"], "result-path") == "/airflow/xcom/return.json"


def test_xcom_sidecar_matches_the_providers():
    from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
    from kubernetes.client import ApiClient

    serialise = ApiClient().sanitize_for_serialization
    sidecar = serialise(PodDefaults.SIDECAR_CONTAINER)
    assert {key: sidecar[key] for key in ("name", "command", "volumeMounts", "resources")} == {
        key: XCOM_SIDECAR[key] for key in ("name", "command", "volumeMounts", "resources")
    }
    assert sidecar["image"].split(":")[0] == XCOM_SIDECAR["image"]
    assert serialise(PodDefaults.VOLUME) == XCOM_VOLUME
    assert serialise(PodDefaults.VOLUME_MOUNT) == XCOM_MOUNT


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("SPARK_ON_K8S_SPARK_DRIVER_ANNOTATIONS", "{not json", "SPARK_ON_K8S_SPARK_DRIVER_ANNOTATIONS: not valid JSON"),
        ("SPARK_ON_K8S_SPARK_EXECUTOR_ANNOTATIONS", '["a", "b"]', "SPARK_ON_K8S_SPARK_EXECUTOR_ANNOTATIONS: Input should be a valid dictionary"),
        ("SPARK_ON_K8S_SPARK_DRIVER_ANNOTATIONS", '{"a": "{{ x }}"}', "holds a Jinja marker"),
        ("SPARK_ON_K8S_DRIVER_CPU", "0", "SPARK_ON_K8S_DRIVER_CPU: Input should be greater than 0"),
        ("SPARK_ON_K8S_EXECUTOR_CPU", "-1", "SPARK_ON_K8S_EXECUTOR_CPU: Input should be greater than 0"),
        ("SPARK_ON_K8S_DRIVER_MEMORY", "0", "SPARK_ON_K8S_DRIVER_MEMORY: '0' must be greater than zero"),
        ("SPARK_ON_K8S_EXECUTOR_MEMORY_OVERHEAD", "-512", "SPARK_ON_K8S_EXECUTOR_MEMORY_OVERHEAD: '-512' is not a memory size"),
        ("SPARK_ON_K8S_EXECUTOR_MEMORY", "2 parsecs", "SPARK_ON_K8S_EXECUTOR_MEMORY: unknown unit 'parsecs'"),
        ("SPARK_ON_K8S_DRIVER_MEMORY_OVERHEAD", "512kb", "unknown unit 'kb'"),
        ("SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES", "3", "SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES=3 is above SPARK_ON_K8S_EXECUTOR_MAX_INSTANCES=2"),
        ("SPARK_ON_K8S_EXECUTOR_INITIAL_INSTANCES", "5", "SPARK_ON_K8S_EXECUTOR_INITIAL_INSTANCES=5 is outside [SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES=2"),
        ("SPARK_ON_K8S_EXECUTOR_MAX_INSTANCES", "0", "SPARK_ON_K8S_EXECUTOR_MAX_INSTANCES: Input should be greater than 0"),
    ],
)  # fmt: skip
def test_bad_environment_values_name_the_variable(monkeypatch, variable, value, fragment):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert fragment in str(caught.value)


def test_bad_environment_values_stop_the_export(tmp_path):
    completed = run_cli(
        "export", "workflows", "--out", str(tmp_path / "dags"), "--version", "1.0.0",
        SPARK_ON_K8S_EXECUTOR_MEMORY="2tb-ish",
    )  # fmt: skip
    assert completed.returncode == 1
    assert "SPARK_ON_K8S_EXECUTOR_MEMORY" in completed.stderr
    assert not (tmp_path / "dags").exists()


@pytest.mark.parametrize(
    ("task", "fragment"),
    [
        (t.SparkZeroCores, "spark_resources.driver_cores is 0; it must be a whole number > 0"),
        (t.SparkZeroMemory, "spark_resources.executor_memory: 0 must be greater than zero"),
        (t.SparkUnknownUnit, "spark_resources.driver_memory: unknown unit 'parsecs'"),
        (t.SparkUnknownSuffix, "spark_resources.executor_memory_overhead: unknown unit 'x'"),
        (t.SparkMinAboveMax, "spark_resources.min_executors=5 is above spark_resources.max_executors=3"),
        (t.SparkInitialOutside, "spark_resources.initial_executors=9 is outside [SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES=2, spark_resources.max_executors=4]"),
        (t.SparkJinjaConf, "spark_resources.spark_conf: 'spark.x' holds a Jinja marker"),
        (t.SparkBadAnnotations, "spark_resources.driver_annotations: 'a': 1 is not a pair"),
    ],
)  # fmt: skip
def test_bad_class_declarations_name_the_task(task, fragment):
    workflow = Workflow("raw", "stats", "spark", version="1.0.0", workflow_package="invalid_tasks")
    with pytest.raises(WorkflowDefinitionError) as caught:
        workflow.add_node(task)
        workflow.validate(load_settings())
    message = str(caught.value)
    assert fragment in message
    assert "Workflow 'raw_to_stats_spark': task " in message


def test_class_and_environment_combination_is_checked_per_task(monkeypatch):
    monkeypatch.setenv("SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES", "4")
    monkeypatch.setenv("SPARK_ON_K8S_EXECUTOR_INITIAL_INSTANCES", "4")
    monkeypatch.setenv("SPARK_ON_K8S_EXECUTOR_MAX_INSTANCES", "8")
    workflow = Workflow("raw", "count", "spark", version="1.0.0", workflow_package="invalid_tasks")
    workflow.add_node(t._spark("SparkSmallMax", max_executors=3))
    with pytest.raises(
        WorkflowDefinitionError,
        match=r"task 'spark_small_max': SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES=4 is above spark_resources.max_executors=3",
    ):
        workflow.validate()


# -- real Spark, local mode ------------------------------------------------------------------


@pytest.mark.java
def test_example_spark_step_runs_with_local_spark(tmp_path: Path):
    from workflows.frames import read_frames
    from workflows.tasks import Calibrate, Ingest

    parameters = {
        "data_root": str(tmp_path),
        "seed": 3,
        "frame_count": 3,
        "frame_size": 5,
        "dark_level": 100.0,
    }
    upstream = {}
    for task_class, task_id in ((Ingest, "ingest"), (Calibrate, "calibrate")):
        with task_class(
            RunContext("l0_to_l1_vbi", "1", task_id, parameters=parameters, inputs=upstream)
        ) as task:
            task()
        upstream = {task_id: task.outputs}
    result_path = tmp_path / "result.json"
    completed = run_cli(
        "run-task", "workflows.tasks:FrameStatistics", "--workflow-name=l0_to_l1_vbi",
        "--workflow-version=1", "--task-id=frame_statistics",
        f"--inputs={json.dumps({'calibrate': {'status': 'success', 'outputs': upstream['calibrate']}})}",
        f"--result-path={result_path}",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(result_path.read_text())
    frames = read_frames(upstream["calibrate"]["frames_path"])
    expected = [[v for row in frame for v in row] for frame in frames]
    assert result["status"] == "success"
    assert [f["frame"] for f in result["outputs"]["frames"]] == [0, 1, 2]
    for stats, pixels in zip(result["outputs"]["frames"], expected, strict=True):
        assert stats["mean"] == pytest.approx(statistics.fmean(pixels))
        assert stats["stddev"] == pytest.approx(statistics.pstdev(pixels))
        assert (stats["min"], stats["max"]) == (min(pixels), max(pixels))
    assert result["outputs"]["overall_mean"] == pytest.approx(
        statistics.fmean([v for pixels in expected for v in pixels])
    )
    assert result["metrics"] == {"pixels": 3 * 5 * 5}


@pytest.mark.java
def test_spark_session_is_stopped_after_success_and_after_failure():
    from pyspark import SparkContext

    context = RunContext("w", "1", "spark_count", parameters={"n": 1000})
    with sample_tasks.SparkCount(context) as task:
        task()
    assert task.outputs == {"count": 1000}
    assert task.session_seen.sparkContext._jsc is None  # stopped
    assert SparkContext._active_spark_context is None
    assert task._spark is None

    failing = sample_tasks.SparkCount(
        RunContext("w", "1", "spark_count", parameters={"n": 10, "fail": True})
    )
    with pytest.raises(RuntimeError, match="on purpose"), failing:
        failing()
    assert failing.rolled_back_with_session is True  # rollback can still use the session
    assert failing.session_seen.sparkContext._jsc is None
    assert SparkContext._active_spark_context is None
    # the declared conf reached the session
    assert failing.session_seen.conf.get("spark.sql.shuffle.partitions") == "2"
