"""Shared storage: volumes declared on the Workflow, a task class, a node and K8S_VOLUMES reach
every pod and Spark driver and executor, valid for Kubernetes and the Spark Operator's CRD;
bad names and clashing mount paths are refused at build time, naming the culprit."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import kubernetes_validate
import pytest
import sample_tasks
from conftest import EXAMPLE_VERSION, load_dagbag, run_cli
from test_pods import K8S_VERSION, all_kubernetes_tasks, pod_manifest
from test_spark import spark_operators, submitted_application

from processing_core import TaskBase, Volume, Workflow, WorkflowDefinitionError
from processing_core.airflow import to_dag
from processing_core.config import load_settings
from processing_core.errors import SettingsError

DATA = {"name": "data", "persistentVolumeClaim": {"claimName": "vbi-processing-data", "readOnly": False}}  # fmt: skip
DATA_MOUNT = {"name": "data", "mountPath": "/data", "readOnly": False}


class WithCalibration(TaskBase):
    """Reads calibration tables from a ConfigMap, and scratch space."""

    volumes = (
        Volume.from_config_map("tables", "calibration-tables", "/etc/tables"),
        Volume.scratch("scratch", "/scratch", size_limit="2Gi"),
    )

    def run(self) -> None:
        pass


def volume_names(manifest: dict) -> list[str]:
    """The pod's volumes besides the XCom one the operator adds itself."""
    return [v["name"] for v in manifest["spec"]["volumes"] if v["name"] != "xcom"]


def mount_paths(manifest: dict) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in manifest["spec"]["containers"][0]["volumeMounts"]}


def workflow(**node) -> Workflow:
    flow = Workflow("l0", "l1", "vols", version="1.0.0", workflow_package="sample_tasks",
                    volumes=[Volume.from_claim("data", "vbi-processing-data", "/data")])  # fmt: skip
    flow.add_node(WithCalibration, **node)
    flow.add_node(sample_tasks.SparkCount, upstreams="with_calibration")
    return flow


def test_every_example_pod_and_spark_application_mounts_the_data_claim(
    kubernetes_dags, crd_validator
):
    for operator in all_kubernetes_tasks(kubernetes_dags):
        manifest = pod_manifest(operator)
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        assert DATA in manifest["spec"]["volumes"], operator.task_id
        assert DATA_MOUNT in manifest["spec"]["containers"][0]["volumeMounts"], operator.task_id
    dag = load_dagbag(kubernetes_dags).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"]
    (spark,) = spark_operators(dag)
    application = submitted_application(spark)
    crd_validator.validate(application)
    spec = application["spec"]
    assert DATA in spec["volumes"]
    assert DATA_MOUNT in spec["driver"]["volumeMounts"]
    assert DATA_MOUNT in spec["executor"]["volumeMounts"]
    # The XCom sidecar's volume is still there for the driver's result.
    assert {"name": "xcom", "mountPath": "/airflow/xcom"} in spec["driver"]["volumeMounts"]


def test_workflow_class_and_deployment_volumes_come_together(monkeypatch, crd_validator):
    monkeypatch.setenv(
        "K8S_VOLUMES",
        json.dumps([{"name": "outbox", "empty_dir": True, "mount_path": "/var/outbox"},
                    {"name": "ca", "secret": "site-ca", "mount_path": "/etc/ca", "read_only": True}]),
    )  # fmt: skip
    dag = to_dag(workflow(), settings=load_settings())
    manifest = pod_manifest(dag.get_task("with_calibration"))
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    volumes = {v["name"]: v for v in manifest["spec"]["volumes"]}
    assert volumes["outbox"] == {"name": "outbox", "emptyDir": {}}
    assert volumes["ca"] == {"name": "ca", "secret": {"secretName": "site-ca"}}
    assert volumes["tables"] == {"name": "tables", "configMap": {"name": "calibration-tables"}}
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {"sizeLimit": "2Gi"}}
    assert volumes["data"] == DATA
    mounts = {m["name"]: m for m in manifest["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["tables"] == {"name": "tables", "mountPath": "/etc/tables", "readOnly": True}
    assert mounts["outbox"]["mountPath"] == "/var/outbox"
    # The Spark task has no volumes of its own: the deployment's and the Workflow's.
    application = submitted_application(dag.get_task("spark_count"))
    crd_validator.validate(application)
    assert [v["name"] for v in application["spec"]["volumes"]] == ["xcom", "outbox", "ca", "data"]
    assert [m["name"] for m in application["spec"]["executor"]["volumeMounts"]] == [
        "outbox", "ca", "data"
    ]  # fmt: skip


def test_add_node_volumes_replace_the_class_ones_for_that_node_only():
    flow = workflow(volumes=[Volume.scratch("scratch", "/big-scratch")])
    flow.add_node(WithCalibration, task_id="again", upstreams="with_calibration")
    dag = to_dag(flow, settings=load_settings())
    first = pod_manifest(dag.get_task("with_calibration"))
    again = pod_manifest(dag.get_task("again"))
    assert volume_names(first) == ["data", "scratch"]
    assert mount_paths(first)["scratch"] == "/big-scratch"
    assert volume_names(again) == ["data", "tables", "scratch"]
    assert mount_paths(again)["scratch"] == "/scratch"


@pytest.mark.parametrize(
    ("volume", "fragment"),
    [
        (Volume("Data", "/data", claim="c"), "volume 'Data': the name must be a DNS label"),
        (Volume("xcom", "/x", empty_dir=True), "used by Airflow's XCom sidecar"),
        (Volume("d", "data", claim="c"), "mount_path 'data' must be an absolute path"),
        (Volume("d", "/", claim="c"), "must be an absolute path below /"),
        (Volume("d", "/airflow/xcom", empty_dir=True), "where Airflow reads the task's result"),
        (Volume("d", "/a/{{ ds }}", claim="c"), "may hold only letters, digits"),
        (Volume("d", "/a/../etc", claim="c"), "no '..' part"),
        (Volume("d", "/d", claim="c", secret="s"), "exactly one of claim=, config_map="),
        (Volume("d", "/d"), "exactly one of claim=, config_map=, secret= or empty_dir=True"),
        (Volume("d", "/d", claim="Bad_Claim"), "claim 'Bad_Claim' is not a Kubernetes object"),
        (Volume("d", "/d", claim="c", size_limit="1Gi"), "size_limit applies to empty_dir"),
        (Volume("d", "/d", empty_dir=True, size_limit="lots"), "not a Kubernetes quantity"),
    ],
)
def test_a_bad_volume_is_refused_where_it_is_declared(volume, fragment):
    with pytest.raises(WorkflowDefinitionError, match="task 'with_calibration'") as raised:
        workflow(volumes=[volume])
    assert fragment in str(raised.value)
    flow = Workflow("l0", "l1", "bad", version="1.0.0", workflow_package="sample_tasks",
                    volumes=[volume])  # fmt: skip
    flow.add_node(sample_tasks.Echo)
    with pytest.raises(WorkflowDefinitionError) as raised:
        flow.validate(load_settings())
    assert f"Workflow 'l0_to_l1_bad': Workflow volumes: volume {volume.name!r}" in str(raised.value)
    assert fragment in str(raised.value)


def test_clashing_volumes_name_both_declarations():
    clash = workflow(volumes=[Volume.from_claim("other", "c", "/data")])
    with pytest.raises(WorkflowDefinitionError) as raised:
        clash.validate(load_settings())
    assert (
        "task 'with_calibration': volumes 'data' (the Workflow) and 'other' "
        "(add_node(volumes=)) are both mounted at '/data'; give one another mount_path"
    ) in str(raised.value)
    renamed = workflow(volumes=[Volume.from_claim("data", "elsewhere", "/elsewhere")])
    with pytest.raises(WorkflowDefinitionError, match="volume name 'data' is declared differently"):
        renamed.validate(load_settings())
    # Declaring the very same volume twice is no clash.
    same = workflow(volumes=[Volume.from_claim("data", "vbi-processing-data", "/data")])
    same.validate(load_settings())


def test_volume_lists_that_are_not_lists_are_named():
    class Broken(TaskBase):
        volumes = Volume.scratch("s", "/s")  # type: ignore[assignment]

        def run(self) -> None:
            pass

    flow = Workflow("l0", "l1", "bad", version="1.0.0", workflow_package="sample_tasks")
    with pytest.raises(WorkflowDefinitionError, match="volumes must be a list of Volume"):
        flow.add_node(Broken)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('[{"name": "d", "claim": "c"}]', "missing 1 required positional argument: 'mount_path'"),
        ('[{"name": "d", "pvc": "c", "mount_path": "/d"}]', "['pvc'] are not among them"),
        ('[{"name": "d", "mount_path": "/d"}]', "exactly one of claim="),
        ('[{"name": "a", "claim": "c", "mount_path": "/d"}, '
         '{"name": "b", "claim": "c", "mount_path": "/d/"}]', "are both mounted at '/d'"),
        ("{}", "K8S_VOLUMES: Input should be a valid list"),
    ],
)  # fmt: skip
def test_bad_k8s_volumes_name_the_variable(monkeypatch, value, fragment):
    monkeypatch.setenv("K8S_VOLUMES", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "K8S_VOLUMES" in str(raised.value)
    assert fragment in str(raised.value)


def test_export_refuses_clashing_volumes_without_writing(tmp_path):
    clash = json.dumps([{"name": "other", "claim": "c", "mount_path": "/data/"}])
    completed = run_cli("export", "workflows", "--out", str(tmp_path / "dags"), K8S_VOLUMES=clash)
    assert completed.returncode == 1
    assert "volumes 'other' (K8S_VOLUMES) and 'data' (the Workflow) are both mounted" in (
        completed.stderr
    )
    assert not (tmp_path / "dags").exists() or not list((tmp_path / "dags").iterdir())


def test_a_node_override_keeps_other_declarations():
    flow = workflow(volumes=[], retries=2, retry_delay=timedelta(seconds=5))
    manifest = pod_manifest(to_dag(flow, settings=load_settings()).get_task("with_calibration"))
    assert volume_names(manifest) == ["data"]


def test_a_volume_folder_is_its_mount_where_mounted_else_the_users_own(monkeypatch, tmp_path):
    # /proc is a mount point on every Linux machine: there the mount path is the folder.
    assert Volume.from_claim("data", "c", "/proc").folder("a", "b") == Path("/proc/a/b")
    unmounted = Volume.from_claim("data", "c", "/nowhere-mounted")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert unmounted.folder("run") == tmp_path / "processing-core/volumes/data/run"
    # A relative XDG_DATA_HOME is ignored, as the XDG spec says: the home's default.
    monkeypatch.setenv("XDG_DATA_HOME", "relative")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home/.local/share/processing-core/volumes/data"
    assert unmounted.folder() == expected
    assert not (tmp_path / "home").exists()  # creates nothing
