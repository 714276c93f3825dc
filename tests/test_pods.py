"""Every pod the Kubernetes target describes is one Kubernetes accepts (validated offline)."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest
from conftest import EXAMPLE_VERSION, load_dagbag, option, template_context
from kubernetes.client import ApiClient

from processing_core import Workflow
from processing_core.airflow import to_dag
from processing_core.config import load_settings

K8S_VERSION = "1.37.0"


def pod_manifest(operator) -> dict:
    pod = operator.build_pod_request_obj(dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


def all_kubernetes_tasks(folder: Path):
    bag = load_dagbag(folder)
    assert bag.import_errors == {}
    # Pods the operator itself builds; Spark tasks' pods come from the Spark Operator. A
    # mapped task's instances are pods of its partial arguments (unmapped as Airflow does).
    return [
        task.unmap({}) if task.is_mapped else task
        for dag in bag.dags.values()
        for task in dag.tasks
        if getattr(task, "operator_class", type(task)).__name__ == "PodTask"
    ]


def test_every_pod_validates_against_the_kubernetes_schema(kubernetes_dags: Path):
    tasks = all_kubernetes_tasks(kubernetes_dags)
    assert len(tasks) == 11  # the quick look's frame_quick_look is mapped
    for task in tasks:
        manifest = pod_manifest(task)
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        assert manifest["metadata"]["name"].startswith(task.task_id.replace("_", "-") + "-")


def test_schema_validation_really_rejects_a_broken_pod(kubernetes_dags: Path):
    task = all_kubernetes_tasks(kubernetes_dags)[0]
    manifest = pod_manifest(task)
    manifest["spec"]["containers"][0]["resources"] = {"requests": {"cpu": ["not", "a", "quantity"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_declared_resources_secrets_and_profile_reach_the_pod():
    import sample_tasks

    workflow = Workflow("raw", "clean", "test", version="3.1.4", workflow_package="sample_tasks")
    workflow.add_node(sample_tasks.Declared)
    dag = to_dag(workflow, settings=load_settings(k8s_namespace="science"))
    manifest = pod_manifest(dag.get_task("declared"))
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    container = manifest["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    env = {item["name"]: item for item in container["env"]}
    assert env["DB_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "db-credentials", "key": "password"}
    }
    assert env["API_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "api.tokens", "key": "token.v1"}
    }
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "value" not in env["DB_PASSWORD"]
    assert manifest["metadata"]["namespace"] == "science"
    assert manifest["spec"]["nodeSelector"] == {"processing-core/profile": "gpu"}
    assert manifest["spec"]["tolerations"][0]["value"] == "gpu"
    labels = manifest["metadata"]["labels"]
    assert labels["processing-core/workflow"] == "raw_to_clean_test"
    assert labels["processing-core/version"] == "3.1.4"
    task = dag.get_task("declared")
    assert task.retries == 3
    assert task.max_retry_delay.total_seconds() == 600
    assert task.execution_timeout.total_seconds() == 1800


class FakeTaskInstance:
    """The two things the templates ask of Airflow's task instance."""

    def __init__(self, xcoms: dict) -> None:
        self.try_number = 2
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str):
        return self.xcoms[task_ids]


def test_templates_render_the_run_into_the_entrypoint_arguments(kubernetes_dags: Path):
    dag = load_dagbag(kubernetes_dags).dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"]
    publish = dag.get_task("publish")
    upstream = {
        "quality_check": {"status": "success", "outputs": {"noise": 1.5, "note": 'it\'s "fine"'}},
        "make_products": {"status": "success", "outputs": {"product_path": "/data/p.json"}},
        "frame_statistics": {"status": "success", "outputs": {"overall_mean": 50.1}},
    }
    params = {"data_root": "/data", "seed": 1, "note": "{{ 7 * 7 }} <b>&'"}
    context = template_context(FakeTaskInstance(upstream), params, run_id="manual__2026-11-21")
    publish.render_template_fields(context)
    arguments = publish.arguments
    assert option(arguments, "run-id") == "manual__2026-11-21"
    assert option(arguments, "try-number") == "2"
    assert json.loads(option(arguments, "parameters")) == params
    assert json.loads(option(arguments, "inputs")) == upstream
    kubernetes_validate.validate(
        ApiClient().sanitize_for_serialization(publish.build_pod_request_obj(dry_run=True)),
        K8S_VERSION,
        strict=True,
    )
