"""Kubernetes node: a task becomes a KubernetesPodOperator running the pipeline image."""

from __future__ import annotations

from typing import Any

from processing_core.definition import naming
from processing_core.definition.node import TaskNode
from processing_core.definition.volumes import Volume
from processing_core.nodes.common import (
    TASK_CONTEXT_ENV,
    NodeContext,
    base_operator_kwargs,
    pod_annotations,
    pod_labels,
    startup_timeout_seconds,
    templated_run_task_arguments,
)
from processing_core.nodes.spec import Call, OperatorSpec

# KubernetesPodOperator, named "Pod" in the UI (airflow.operators).
OPERATOR = "processing_core.airflow_operators:PodTask"
PROVIDER = "airflow.providers.cncf.kubernetes.operators.pod:KubernetesPodOperator"
SECRET = "airflow.providers.cncf.kubernetes.secret:Secret"
K8S_MODELS = "kubernetes.client.models"
# Every Kubernetes model made without one builds its own client Configuration (a deep copy
# and logger changes: ~40 % of a DAG file's parse). One per file, shared by all its models
# (they only read `client_side_validation` from it).
K8S_CONFIGURATION = Call("kubernetes.client:Configuration", once=True)
POD_IDENTITY_GUARD = "processing_core.airflow_callbacks:PodIdentityGuard"


def kubernetes_operator(node: TaskNode, context: NodeContext) -> OperatorSpec:
    task = node.declared  # with add_node's overrides
    kwargs: dict[str, Any] = base_operator_kwargs(node, context)
    kwargs |= {
        "name": naming.dns_label(node.task_id),
        "namespace": context.settings.k8s_namespace,
        "kubernetes_conn_id": context.settings.k8s_conn_id,
        "image": context.image,
        "image_pull_policy": context.settings.k8s_image_pull_policy,
        "cmds": ["processing-core"],
        "arguments": templated_run_task_arguments(node, context),
        "labels": pod_labels(node, context),
        "annotations": pod_annotations(node, context),
        "env_vars": [
            _downward_env("POD_NAME", "metadata.name"),
            _downward_env("POD_NAMESPACE", "metadata.namespace"),
            *(
                _model("V1EnvVar", {"name": name, "value": value})
                for name, value in TASK_CONTEXT_ENV.items()
            ),
        ],
        "do_xcom_push": True,
        "get_logs": True,
        # A try whose worker died reattaches to its pod rather than starting a second one,
        # and only to that very pod (processing_core/airflow/pods.py).
        "durable": True,
        "callbacks": Call(POD_IDENTITY_GUARD),
        "on_finish_action": context.settings.k8s_on_finish_action,
        "startup_timeout_seconds": startup_timeout_seconds(task, context),
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
        kwargs["container_resources"] = _model("V1ResourceRequirements", resource_kwargs)
    if context.settings.env_from():
        kwargs["env_from"] = [_env_from(kind, name) for kind, name in context.settings.env_from()]
    if context.settings.k8s_service_account:
        kwargs["service_account_name"] = context.settings.k8s_service_account
    if context.settings.image_pull_secret_names():
        kwargs["image_pull_secrets"] = ",".join(context.settings.image_pull_secret_names())
    if context.volumes:
        kwargs["volumes"] = [_volume(volume) for volume in context.volumes]
        kwargs["volume_mounts"] = [
            _model(
                "V1VolumeMount",
                {
                    "name": volume.name,
                    "mount_path": volume.mount_path,
                    "read_only": volume.read_only,
                },
            )
            for volume in context.volumes
        ]
    kwargs |= context.profile.placement()
    return OperatorSpec(task_id=node.task_id, operator=OPERATOR, kwargs=kwargs, provider=PROVIDER)


def _volume(volume: Volume) -> Call:
    """A V1Volume with its source, as kubernetes' models spell the pod's `volumes` entry."""
    source: dict[str, Any]
    if volume.claim is not None:
        model, key, source = (
            "V1PersistentVolumeClaimVolumeSource",
            "persistent_volume_claim",
            {"claim_name": volume.claim, "read_only": volume.read_only},
        )
    elif volume.config_map is not None:
        model, key, source = "V1ConfigMapVolumeSource", "config_map", {"name": volume.config_map}
    elif volume.secret is not None:
        model, key, source = "V1SecretVolumeSource", "secret", {"secret_name": volume.secret}
    else:
        limit = {"size_limit": volume.size_limit} if volume.size_limit else {}
        model, key, source = "V1EmptyDirVolumeSource", "empty_dir", limit
    return _model("V1Volume", {"name": volume.name, key: _model(model, source)})


def _env_from(kind: str, name: str) -> Call:
    if kind == "configmap":
        source = _model("V1ConfigMapEnvSource", {"name": name})
        return _model("V1EnvFromSource", {"config_map_ref": source})
    source = _model("V1SecretEnvSource", {"name": name})
    return _model("V1EnvFromSource", {"secret_ref": source})


def _downward_env(name: str, field_path: str) -> Call:
    # The pod's own name and namespace, for logs, traces and events from inside the task.
    selector = _model("V1ObjectFieldSelector", {"field_path": field_path})
    source = _model("V1EnvVarSource", {"field_ref": selector})
    return _model("V1EnvVar", {"name": name, "value_from": source})


def _model(name: str, kwargs: dict[str, Any]) -> Call:
    """Kubernetes model `name`, sharing the file's one client configuration."""
    return Call(
        f"{K8S_MODELS}:{name}", kwargs={**kwargs, "local_vars_configuration": K8S_CONFIGURATION}
    )
