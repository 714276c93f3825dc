"""Exported DAG files load in Airflow's own parser with the expected shape."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import EXAMPLE_VERSION, load_dagbag, option

from processing_core.airflow import to_dag

L1_DAG = f"l0_to_l1_vbi_{EXAMPLE_VERSION}"
QUICKLOOK_DAG = f"l0_to_quicklook_vbi_{EXAMPLE_VERSION}"
L1_EDGES = {
    "ingest": set(),
    "calibrate": {"ingest"},
    "quality_check": {"calibrate"},
    "make_products": {"calibrate"},
    "frame_statistics": {"calibrate"},
    "publish": {"quality_check", "make_products", "frame_statistics"},
}
QUICKLOOK_EDGES = {
    "ingest": set(),
    "check_raw": {"ingest"},
    "calibrate": {"ingest"},
    "check_calibrated": {"calibrate"},
    # Once per calibrated frame: the list task hands Airflow the frames' count.
    "calibrate-frames": {"calibrate"},
    "frame_quick_look": {"calibrate", "calibrate-frames"},
    "quick_look_summary": {"frame_quick_look"},
}


@pytest.fixture(scope="module", params=["kubernetes", "local"])
def dagbag(request, kubernetes_dags: Path, local_dags: Path):
    folder = kubernetes_dags if request.param == "kubernetes" else local_dags
    return request.param, folder, load_dagbag(folder)


def test_every_file_loads_without_import_errors(dagbag):
    _, folder, bag = dagbag
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == sorted([L1_DAG, QUICKLOOK_DAG])
    assert sorted(p.name for p in folder.glob("*.py")) == sorted(
        [f"{L1_DAG}.py", f"{QUICKLOOK_DAG}.py"]
    )


@pytest.mark.parametrize(
    ("dag_id", "edges"), [(L1_DAG, L1_EDGES), (QUICKLOOK_DAG, QUICKLOOK_EDGES)]
)
def test_tasks_and_edges(dagbag, dag_id, edges):
    target, _, bag = dagbag
    dag = bag.dags[dag_id]
    assert {t.task_id: set(t.upstream_task_ids) for t in dag.tasks} == edges
    # A mapped task is Airflow's MappedOperator of the operator class.
    classes = {t.task_id: getattr(t, "operator_class", type(t)) for t in dag.tasks}
    kinds = {task: cls.__name__ for task, cls in classes.items()}
    spark_operator = "SparkSubmitTask" if target == "local" else "SparkApplicationTask"
    assert {task: kind for task, kind in kinds.items() if "Spark" in kind} == (
        {"frame_statistics": spark_operator} if dag_id == L1_DAG else {}
    )
    if dag_id == QUICKLOOK_DAG:
        assert dag.get_task("frame_quick_look").is_mapped
        assert kinds["calibrate-frames"] == "ForeachItems"
    operators = {"LocalTask", "SparkSubmitTask"} if target == "local" else {
        "PodTask", "SparkApplicationTask"
    }  # fmt: skip
    assert set(kinds.values()) <= operators | {"ForeachItems"}
    # What the UI shows as each task's operator (mapped ones too): what runs, not how.
    shown = {t.task_id: t.operator_name for t in dag.tasks}
    names = {
        "LocalTask": "Local task",
        "SparkSubmitTask": "spark-submit",
        "PodTask": "Pod",
        "SparkApplicationTask": "Spark application",
        "ForeachItems": "List to map over",
    }
    assert shown == {task: names[kind] for task, kind in kinds.items()}
    # The providers' operators underneath.
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.standard.operators.bash import BashOperator

    base = BashOperator if target == "local" else KubernetesPodOperator
    assert all(
        issubclass(cls, base)
        for task, cls in classes.items()
        if kinds[task] in ("LocalTask", "PodTask", "SparkApplicationTask")
    )


def test_params_become_airflow_params_with_schema(dagbag):
    _, _, bag = dagbag
    params = bag.dags[L1_DAG].params
    assert set(params.keys()) == {
        "data_root",
        "seed",
        "frame_count",
        "frame_size",
        "dark_level",
        "max_noise",
    }
    frame_size = params.get_param("frame_size")
    assert frame_size.value == 16
    # Optional (it has a default): the form marks as required only what has none; its title
    # and range read in the form.
    # The description is Markdown, which the trigger form renders (a plain description
    # would show the backticks of data_root's).
    assert frame_size.schema == {"type": ["integer", "null"], "minimum": 2, "maximum": 512,
                                 "title": "Frame size", "description_md": "(from 2 to 512)"}  # fmt: skip
    assert frame_size.description is None
    assert params.get_param("frame_count").schema["description_md"] == (
        "Frames to ingest. (at least 1)"
    )
    data_root = params.get_param("data_root")
    assert data_root.schema["description_md"].startswith(
        "Folder shared by the tasks. Empty: `/data/processing`"
    )
    assert data_root.value == ""  # the default: Volume.folder(), never a root-only path
    # Airflow validates a triggered value against the schema.
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError):
        frame_size.resolve(1000)
    with pytest.raises(ParamValidationError):
        frame_size.resolve("sixteen")


def test_tags_version_and_docs(dagbag):
    _, _, bag = dagbag
    dag = bag.dags[L1_DAG]
    assert sorted(dag.tags) == sorted(
        [EXAMPLE_VERSION, "example", "imaging", "l0", "l1", "vbi", "l0_to_l1_vbi"]
    )  # the workflow's name selects all its versions
    assert dag.dag_display_name == f"l0_to_l1_vbi {EXAMPLE_VERSION}"
    # Nodes say what they run; Spark tasks say so.
    assert dag.get_task("calibrate").task_display_name == "Calibrate"
    assert dag.get_task("frame_statistics").task_display_name == "FrameStatistics · Spark"
    quicklook = bag.dags[QUICKLOOK_DAG]
    assert quicklook.get_task("check_raw").task_display_name == "check_raw (QualityCheck)"
    assert dag.doc_md.startswith("# VBI L0 to L1")
    assert dag.description == "Calibrate VBI frames and publish the L1 product."
    assert dag.schedule is None
    assert dag.default_args["owner"] == "processing-core"
    ingest = dag.get_task("ingest")
    assert ingest.doc_md.startswith("Ingest the raw frames of an observation.")
    assert ingest.retries == 2
    assert ingest.retry_delay.total_seconds() == 30
    assert ingest.retry_exponential_backoff == 2.0
    assert dag.get_task("calibrate").execution_timeout.total_seconds() == 3600


def test_kubernetes_operator_arguments(kubernetes_dags: Path):
    dag = load_dagbag(kubernetes_dags).dags[L1_DAG]
    calibrate = dag.get_task("calibrate")
    assert calibrate.image == f"workflows:{EXAMPLE_VERSION}"
    assert calibrate.cmds == ["processing-core"]
    assert calibrate.arguments[:2] == ["run-task", "workflows.tasks:Calibrate"]
    assert option(calibrate.arguments, "run-id") == "{{ run_id }}"
    assert option(calibrate.arguments, "try-number") == "{{ ti.try_number }}"
    assert option(calibrate.arguments, "parameters") == "{{ params | tojson }}"
    assert option(calibrate.arguments, "result-path") == "/airflow/xcom/return.json"
    assert calibrate.do_xcom_push is True
    assert calibrate.get_logs is True
    assert calibrate.on_finish_action.value == "delete_succeeded_pod"
    assert calibrate.labels == {
        "processing-core/task": "calibrate",
        "processing-core/version": EXAMPLE_VERSION,
        "processing-core/workflow": "l0_to_l1_vbi",
    }
    assert calibrate.container_resources.requests == {"cpu": "1", "memory": "2Gi"}
    assert calibrate.container_resources.limits == {"cpu": "2", "memory": "4Gi"}
    # The high_memory profile's node selection.
    assert calibrate.node_selector == {"processing-core/profile": "high-memory"}
    assert [t.key for t in calibrate.tolerations] == ["processing-core/profile"]
    publish = dag.get_task("publish")
    assert [(s.deploy_target, s.secret, s.key) for s in publish.secrets] == [
        ("ARCHIVE_TOKEN", "archive-credentials", "token")
    ]


def test_settings_shape_the_kubernetes_operators(tmp_path: Path):
    from conftest import export_example

    export_example(
        tmp_path,
        PIPELINE_IMAGE_REPOSITORY="registry.example.org/team/vbi",
        K8S_NAMESPACE="processing",
        K8S_SERVICE_ACCOUNT="pipeline-runner",
        K8S_IMAGE_PULL_SECRETS="regcred, other",
        K8S_ON_FINISH_ACTION="keep_pod",
        RESOURCE_PROFILES='{"high_memory": {"node_selector": {"pool": "big"}, "pool": "big_pool"}}',
        K8S_ENV_FROM_CONFIGMAPS="processing-config",
        K8S_ENV_FROM_SECRETS="processing-secrets",
    )
    dag = load_dagbag(tmp_path).dags[L1_DAG]
    calibrate = dag.get_task("calibrate")
    assert calibrate.image == f"registry.example.org/team/vbi:{EXAMPLE_VERSION}"
    assert calibrate.namespace == "processing"
    assert calibrate.service_account_name == "pipeline-runner"
    assert [s.name for s in calibrate.image_pull_secrets] == ["regcred", "other"]
    assert calibrate.on_finish_action.value == "keep_pod"
    assert calibrate.node_selector == {"pool": "big"}
    assert calibrate.pool == "big_pool"
    assert dag.get_task("ingest").pool == "default_pool"
    # Deployment settings (broker, collector) reach every pod from a ConfigMap and a Secret.
    assert [(e.config_map_ref and e.config_map_ref.name, e.secret_ref and e.secret_ref.name)
            for e in calibrate.env_from] == [("processing-config", None), (None, "processing-secrets")]  # fmt: skip
    spark = dag.get_task("frame_statistics").template_spec["spark"]["spec"]
    assert (
        spark["driver"]["envFrom"]
        == spark["executor"]["envFrom"]
        == [
            {"configMapRef": {"name": "processing-config"}},
            {"secretRef": {"name": "processing-secrets"}},
        ]
    )
    import kubernetes_validate
    from kubernetes.client import ApiClient

    manifest = ApiClient().sanitize_for_serialization(calibrate.build_pod_request_obj(dry_run=True))
    kubernetes_validate.validate(manifest, "1.37.0", strict=True)


def test_generated_file_imports_only_airflow_and_the_provider(kubernetes_dags: Path):
    for path in kubernetes_dags.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert modules <= {
            "airflow.sdk",
            "airflow.providers.cncf.kubernetes.operators.pod",
            "airflow.providers.cncf.kubernetes.operators.spark_kubernetes",
            "airflow.providers.cncf.kubernetes.secret",
            "kubernetes.client",  # the one Configuration the file's models share
            "kubernetes.client.models",
            "datetime",
            "processing_core.airflow_callbacks",  # the small modules of the library
            "processing_core.airflow_operators",
        }, modules
        assert "workflows" not in {m.split(".")[0] for m in modules}


def test_header_names_library_workflow_and_version(kubernetes_dags: Path):
    from processing_core import __version__

    head = (kubernetes_dags / f"{L1_DAG}.py").read_text().splitlines()[:3]
    assert head[0] == (
        f"# Generated by processing-core {__version__}. Do not edit: export again instead."
    )
    assert head[1] == f"# Workflow l0_to_l1_vbi, version {EXAMPLE_VERSION}, target kubernetes."


def test_in_memory_dag_matches_the_file(kubernetes_dags: Path):
    from workflows.l0_to_l1 import l0_to_l1

    from_file = load_dagbag(kubernetes_dags).dags[L1_DAG]
    in_memory = to_dag(l0_to_l1, version=EXAMPLE_VERSION)
    assert in_memory.dag_id == from_file.dag_id
    assert {t.task_id: t.upstream_task_ids for t in in_memory.tasks} == {
        t.task_id: t.upstream_task_ids for t in from_file.tasks
    }
    for task in in_memory.tasks:
        other = from_file.get_task(task.task_id)
        if hasattr(task, "template_spec") and task.template_spec:
            assert task.template_spec == other.template_spec
        else:
            assert task.arguments == other.arguments
            assert task.labels == other.labels
    assert in_memory.params.dump() == from_file.params.dump()


def test_versions_live_side_by_side(tmp_path: Path):
    from conftest import run_cli

    for version in ("1.0.0", "1.1.0", "2.0.0rc1+build.5"):
        result = run_cli("export", "workflows", "--out", str(tmp_path), "--version", version)
        assert result.returncode == 0, result.stderr
    bag = load_dagbag(tmp_path)
    assert bag.import_errors == {}
    assert {d for d in bag.dag_ids if d.startswith("l0_to_l1_vbi")} == {
        "l0_to_l1_vbi_1.0.0",
        "l0_to_l1_vbi_1.1.0",
        "l0_to_l1_vbi_2.0.0rc1-build.5",
    }
    newest = bag.dags["l0_to_l1_vbi_2.0.0rc1-build.5"].get_task("ingest")
    assert newest.image == "workflows:2.0.0rc1-build.5"
    assert newest.annotations["processing-core/workflow-version"] == "2.0.0rc1+build.5"


def test_every_kubernetes_model_of_a_file_shares_one_client_configuration(kubernetes_dags: Path):
    """A model built without one makes its own Configuration (a deep copy and logger changes,
    most of a file's parse); the file builds one and every model of every task shares it."""
    from kubernetes.client import Configuration

    def models(value, found):
        if hasattr(value, "openapi_types") and hasattr(value, "local_vars_configuration"):
            found.append(value)
            for name in value.openapi_types:
                models(getattr(value, name), found)
        elif isinstance(value, list | tuple):
            for item in value:
                models(item, found)
        return found

    for dag in load_dagbag(kubernetes_dags).dags.values():
        found: list = []
        for task in dag.tasks:
            for name in ("env_vars", "container_resources", "volumes", "volume_mounts"):
                models(getattr(task, name, None), found)
        configurations = {id(model.local_vars_configuration) for model in found}
        assert len(found) > 10 and len(configurations) == 1, (dag.dag_id, len(configurations))
        (shared,) = {model.local_vars_configuration for model in found[:1]}
        assert isinstance(shared, Configuration)
