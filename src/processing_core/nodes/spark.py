"""Spark node: a Spark task becomes a SparkKubernetesOperator submitting a SparkApplication.

Everything goes into the SparkApplication itself (`template_spec["spark"]`), as plain data:
the provider's optional `kubernetes` section would overwrite the driver's and executors'
env, volumes and node selection wholesale.
"""

from __future__ import annotations

from typing import Any, cast

from processing_core.definition import naming, spark_sizes
from processing_core.definition.node import TaskNode
from processing_core.definition.spark_task import SparkTaskBase
from processing_core.nodes.common import (
    TASK_CONTEXT_ENV,
    NodeContext,
    base_operator_kwargs,
    pod_annotations,
    pod_labels,
    startup_timeout_seconds,
    templated_run_task_arguments,
)
from processing_core.nodes.spec import OperatorSpec

# SparkKubernetesOperator, named "Spark application" in the UI (airflow.operators).
OPERATOR = "processing_core.airflow_operators:SparkApplicationTask"
PROVIDER = "airflow.providers.cncf.kubernetes.operators.spark_kubernetes:SparkKubernetesOperator"
API_VERSION = "sparkoperator.k8s.io/v1beta2"
# SparkKubernetesOperator.template_ext (tests/test_spark.py keeps them equal).
SPARK_TEMPLATE_EXTENSIONS = ("yaml", "yml", "json")
_CAMEL_CASE = {"node_selector": "nodeSelector"}

# The provider's XCom sidecar (airflow.providers.cncf.kubernetes.utils.xcom_sidecar.PodDefaults)
# as plain data, added to the driver so the operator can read the result as for any pod.
# tests/test_spark.py keeps it equal to the provider's.
XCOM_VOLUME = {"name": "xcom", "emptyDir": {}}
XCOM_MOUNT = {"name": "xcom", "mountPath": "/airflow/xcom"}
XCOM_SIDECAR = {
    "name": "airflow-xcom-sidecar",
    "image": "alpine",
    "command": ["sh", "-c", 'trap "exit 0" INT; while true; do sleep 1; done;'],
    "volumeMounts": [XCOM_MOUNT],
    "resources": {"requests": {"cpu": "1m", "memory": "10Mi"}},
}


def spark_operator(node: TaskNode, context: NodeContext) -> OperatorSpec:
    # The adapter is chosen for Spark tasks; declared: with add_node's overrides.
    task = cast(type[SparkTaskBase], node.declared)
    resources = spark_sizes.resolve(task.spark_resources, context.settings)
    labels = pod_labels(node, context)
    annotations = pod_annotations(node, context)
    pod: dict[str, Any] = {"labels": labels, "env": _environment(task)}
    # Driver and executors mount the same storage: executors read and write the shared data.
    mounts = [volume.pod_mount() for volume in context.volumes]
    if context.settings.env_from():
        pod["envFrom"] = [
            {"configMapRef" if kind == "configmap" else "secretRef": {"name": name}}
            for kind, name in context.settings.env_from()
        ]
    if context.settings.k8s_service_account:
        pod["serviceAccount"] = context.settings.k8s_service_account
    # The SparkApplication spells the pod's fields as Kubernetes does.
    pod |= {_CAMEL_CASE.get(key, key): value for key, value in context.profile.placement().items()}
    driver = {
        "cores": resources.driver_cores,
        "memory": f"{resources.driver_memory_mb}m",
        "memoryOverhead": f"{resources.driver_memory_overhead_mb}m",
        "annotations": {**annotations, **resources.driver_annotations},
        **pod,
        "volumeMounts": [XCOM_MOUNT, *mounts],
        "sidecars": [XCOM_SIDECAR],
    }
    executor = {
        "cores": resources.executor_cores,
        "instances": resources.initial_executors,
        "memory": f"{resources.executor_memory_mb}m",
        "memoryOverhead": f"{resources.executor_memory_overhead_mb}m",
        "annotations": {**annotations, **resources.executor_annotations},
        **pod,
    }
    if mounts:
        executor["volumeMounts"] = mounts
    spec: dict[str, Any] = {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "sparkVersion": context.settings.spark_on_k8s_spark_version,
        "image": context.image,
        "imagePullPolicy": context.settings.k8s_image_pull_policy,
        "mainApplicationFile": context.settings.spark_on_k8s_main_application_file,
        "arguments": templated_run_task_arguments(node, context),
        "restartPolicy": _restart_policy(task),
        "driver": driver,
        "executor": executor,
        "volumes": [XCOM_VOLUME, *(volume.pod_volume() for volume in context.volumes)],
    }
    if context.settings.image_pull_secret_names():
        spec["imagePullSecrets"] = context.settings.image_pull_secret_names()
    if resources.dynamic_allocation:
        spec["dynamicAllocation"] = {
            "enabled": True,
            "initialExecutors": resources.initial_executors,
            "minExecutors": resources.min_executors,
            "maxExecutors": resources.max_executors,
        }
    if resources.spark_conf:
        spec["sparkConf"] = resources.spark_conf
    application = {
        "apiVersion": API_VERSION,
        "kind": "SparkApplication",
        "metadata": {
            "name": naming.dns_label(node.task_id),
            "namespace": context.settings.k8s_namespace,
        },
        "spec": spec,
    }
    kwargs: dict[str, Any] = base_operator_kwargs(node, context)
    kwargs |= {
        "name": naming.dns_label(node.task_id),
        "namespace": context.settings.k8s_namespace,
        "kubernetes_conn_id": context.settings.k8s_conn_id,
        "template_spec": _jinja_proof({"spark": application}),
        "get_logs": True,
        "do_xcom_push": True,
        "startup_timeout_seconds": startup_timeout_seconds(task, context),
    }
    return OperatorSpec(task_id=node.task_id, operator=OPERATOR, kwargs=kwargs, provider=PROVIDER)


def _jinja_proof(value: Any) -> Any:
    """Strings that Airflow's rendering of template_spec would change, as Jinja literals.

    Airflow renders every string of template_spec. SparkKubernetesOperator's template_ext is
    ("yaml", "yml", "json"), so a string ending so is read as the path of a template file
    (the result path `/airflow/xcom/return.json`, a task id `to_json`, a conf value
    `app.yaml`); and Jinja drops a trailing newline and turns `\r\n` into `\n`. A Jinja
    string literal renders back to exactly the same text, whatever it holds.
    """
    if isinstance(value, dict):
        return {key: _jinja_proof(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jinja_proof(item) for item in value]
    if isinstance(value, str) and (
        value.endswith(SPARK_TEMPLATE_EXTENSIONS) or "\n" in value or "\r" in value
    ):
        escaped = value.encode("unicode-escape").decode("ascii").replace('"', '\\"')
        return '{{ "' + escaped + '" }}'
    return value


def _environment(task: type[SparkTaskBase]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        *({"name": name, "value": value} for name, value in TASK_CONTEXT_ENV.items()),
    ]
    env += [
        {"name": variable, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
        for variable, ref in sorted(task.secrets.items())
    ]
    return env


def _restart_policy(task: type[SparkTaskBase]) -> dict[str, Any]:
    """The task's retries as the Spark Operator's restart policy, for submission failures.

    A failed driver fails the Airflow try (and the operator deletes the application), so
    failed runs are retried by Airflow, each try a fresh SparkApplication with its own try
    number and rollback. What the Spark Operator retries is the submission, which fails
    before any task code runs (API server hiccups, quota races).
    """
    if task.retries == 0:
        return {"type": "Never"}
    interval = max(1, int(task.retry_delay.total_seconds()))
    return {
        "type": "OnFailure",
        "onFailureRetries": 0,
        "onFailureRetryInterval": interval,
        "onSubmissionFailureRetries": task.retries,
        "onSubmissionFailureRetryInterval": interval,
    }
