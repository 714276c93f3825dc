"""Kubernetes node: a task becomes a KubernetesPodOperator running the pipeline image."""

from __future__ import annotations

from typing import Any

from processing_core.config import ResourceProfileSettings, Settings
from processing_core.definition import naming
from processing_core.definition.workflow import TaskNode
from processing_core.nodes.common import base_operator_kwargs, inputs_template, run_task_arguments
from processing_core.nodes.spec import Call, OperatorSpec

OPERATOR = "airflow.providers.cncf.kubernetes.operators.pod:KubernetesPodOperator"
SECRET = "airflow.providers.cncf.kubernetes.secret:Secret"
K8S_MODELS = "kubernetes.client.models"
# Where the KubernetesPodOperator's XCom sidecar reads the task's result.
XCOM_RESULT_PATH = "/airflow/xcom/return.json"
LABEL_PREFIX = "processing-core"


def kubernetes_operator(
    node: TaskNode,
    *,
    workflow_name: str,
    version: str,
    dag_id: str,
    image: str,
    upstream_task_ids: tuple[str, ...],
    profile: ResourceProfileSettings,
    settings: Settings,
) -> OperatorSpec:
    task = node.task_class
    kwargs: dict[str, Any] = base_operator_kwargs(node, profile)
    kwargs |= {
        "name": naming.dns_label(node.task_id),
        "namespace": settings.k8s_namespace,
        "kubernetes_conn_id": settings.k8s_conn_id,
        "image": image,
        "image_pull_policy": settings.k8s_image_pull_policy,
        "cmds": ["processing-core"],
        "arguments": run_task_arguments(
            node,
            workflow_name=workflow_name,
            version=version,
            dag_id=dag_id,
            run_id="{{ run_id }}",
            try_number="{{ ti.try_number }}",
            parameters="{{ params | tojson }}",
            inputs=inputs_template(upstream_task_ids),
            result_path=XCOM_RESULT_PATH,
        ),
        "labels": {
            f"{LABEL_PREFIX}/task": naming.label_value(node.task_id),
            f"{LABEL_PREFIX}/version": naming.label_value(naming.image_tag(version)),
            f"{LABEL_PREFIX}/workflow": naming.label_value(workflow_name),
        },
        "annotations": {
            f"{LABEL_PREFIX}/task-class": task.import_path(),
            f"{LABEL_PREFIX}/workflow-version": version,
        },
        "env_vars": [
            _downward_env("POD_NAME", "metadata.name"),
            _downward_env("POD_NAMESPACE", "metadata.namespace"),
        ],
        "do_xcom_push": True,
        "get_logs": True,
        "on_finish_action": settings.k8s_on_finish_action,
        "startup_timeout_seconds": settings.k8s_startup_timeout_seconds,
    }
    if task.secrets:
        kwargs["secrets"] = [
            Call(
                SECRET,
                kwargs={
                    "deploy_type": "env",
                    "deploy_target": variable,
                    "secret": ref.secret,
                    "key": ref.key,
                },
            )
            for variable, ref in sorted(task.secrets.items())
        ]
    requests, limits = task.resources.requests(), task.resources.limits()
    if requests or limits:
        resource_kwargs = {"requests": requests} if requests else {}
        if limits:
            resource_kwargs["limits"] = limits
        kwargs["container_resources"] = Call(
            f"{K8S_MODELS}:V1ResourceRequirements", kwargs=resource_kwargs
        )
    if settings.k8s_service_account:
        kwargs["service_account_name"] = settings.k8s_service_account
    if settings.image_pull_secret_names():
        kwargs["image_pull_secrets"] = ",".join(settings.image_pull_secret_names())
    if profile.node_selector:
        kwargs["node_selector"] = dict(sorted(profile.node_selector.items()))
    if profile.tolerations:
        kwargs["tolerations"] = [dict(sorted(t.items())) for t in profile.tolerations]
    if profile.affinity:
        kwargs["affinity"] = profile.affinity
    return OperatorSpec(task_id=node.task_id, operator=OPERATOR, kwargs=kwargs)


def _downward_env(name: str, field_path: str) -> Call:
    # The pod's own name and namespace, for logs, traces and events from inside the task.
    selector = Call(f"{K8S_MODELS}:V1ObjectFieldSelector", kwargs={"field_path": field_path})
    source = Call(f"{K8S_MODELS}:V1EnvVarSource", kwargs={"field_ref": selector})
    return Call(f"{K8S_MODELS}:V1EnvVar", kwargs={"name": name, "value_from": source})
