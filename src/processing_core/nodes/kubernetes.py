"""Kubernetes node: a task becomes a KubernetesPodOperator running the pipeline image."""

from __future__ import annotations

from typing import Any

from processing_core.definition import naming
from processing_core.definition.node import TaskNode
from processing_core.definition.volumes import Volume
from processing_core.nodes.common import (
    TRACE_CONTEXT_ENV,
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
SECRET = "airflow.providers.cncf.kubernetes.secret:Secret"
K8S_MODELS = "kubernetes.client.models"
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
                Call(f"{K8S_MODELS}:V1EnvVar", kwargs={"name": name, "value": value})
                for name, value in TRACE_CONTEXT_ENV.items()
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
        kwargs["container_resources"] = Call(
            f"{K8S_MODELS}:V1ResourceRequirements", kwargs=resource_kwargs
        )
    if context.settings.env_from():
        kwargs["env_from"] = [_env_from(kind, name) for kind, name in context.settings.env_from()]
    if context.settings.k8s_service_account:
        kwargs["service_account_name"] = context.settings.k8s_service_account
    if context.settings.image_pull_secret_names():
        kwargs["image_pull_secrets"] = ",".join(context.settings.image_pull_secret_names())
    if context.volumes:
        kwargs["volumes"] = [_volume(volume) for volume in context.volumes]
        kwargs["volume_mounts"] = [
            Call(
                f"{K8S_MODELS}:V1VolumeMount",
                kwargs={
                    "name": volume.name,
                    "mount_path": volume.mount_path,
                    "read_only": volume.read_only,
                },
            )
            for volume in context.volumes
        ]
    kwargs |= context.profile.placement()
    return OperatorSpec(task_id=node.task_id, operator=OPERATOR, kwargs=kwargs)


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
    return Call(
        f"{K8S_MODELS}:V1Volume",
        kwargs={"name": volume.name, key: Call(f"{K8S_MODELS}:{model}", kwargs=source)},
    )


def _env_from(kind: str, name: str) -> Call:
    if kind == "configmap":
        source = Call(f"{K8S_MODELS}:V1ConfigMapEnvSource", kwargs={"name": name})
        return Call(f"{K8S_MODELS}:V1EnvFromSource", kwargs={"config_map_ref": source})
    source = Call(f"{K8S_MODELS}:V1SecretEnvSource", kwargs={"name": name})
    return Call(f"{K8S_MODELS}:V1EnvFromSource", kwargs={"secret_ref": source})


def _downward_env(name: str, field_path: str) -> Call:
    # The pod's own name and namespace, for logs, traces and events from inside the task.
    selector = Call(f"{K8S_MODELS}:V1ObjectFieldSelector", kwargs={"field_path": field_path})
    source = Call(f"{K8S_MODELS}:V1EnvVarSource", kwargs={"field_ref": selector})
    return Call(f"{K8S_MODELS}:V1EnvVar", kwargs={"name": name, "value_from": source})
