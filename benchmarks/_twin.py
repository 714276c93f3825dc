# ruff: noqa: E501 - the twin's text holds Airflow templates as long as the generated file's
"""The hand-written twin of a realistic workflow (`_synthetic.realistic_workflow`): the DAG
file a careful Airflow engineer would write by hand for the same pipeline, with every feature
of the generated one (same operators' arguments, callbacks, hooks, parameters, assets, pod
spec), so parse times compare like with like. `same_features()` proves it: Airflow's own
serialization of both DAGs must be equal, but for the operator's class name.

The twin is written the way people write DAG files: shared objects once at module level, a
helper that builds a task from a short table, dependencies from the table's upstreams, and
the kwargs every task shares in `default_args`.
"""

from __future__ import annotations

import json
from typing import Any

from processing_core import Workflow

TWIN = """\
import json
from datetime import datetime, timedelta

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.sdk import DAG, Asset, AssetAlias, Param
from kubernetes.client import models as k8s
from processing_core.airflow_callbacks import (
    PodIdentityGuard, ResultHook, RunValuesHook, StatusCallback, asset_template_filters,
)

WORKFLOW, VERSION = {name!r}, "1.0.0"
DAG_ID = f"{{WORKFLOW}}_{{VERSION}}"
PACKAGE = "benchmarks._synthetic"
PARAMS = {{
    "label": Param("nightly", description_md="Names the products of this run.", title="Label",
                   type=["string", "null"]),
    "data_root": Param("", description_md="Folder shared by the tasks.", title="Data root",
                       type=["string", "null"]),
    "seed": Param(7, description_md="Seed of the simulation.", title="Seed",
                  type=["integer", "null"]),
    "frame_count": Param(4, description_md="Frames to read. (at least 1)", title="Frame count",
                         type=["integer", "null"], minimum=1),
    "frame_size": Param(16, description_md="(from 2 to 512)", title="Frame size",
                        type=["integer", "null"], minimum=2, maximum=512),
    "threshold": Param(50.0, description_md="Quality limit.", title="Threshold",
                       type=["number", "null"]),
}}
DECLARED = json.dumps([
    {{"default": "nightly", "name": "label"}}, {{"default": "", "name": "data_root"}},
    {{"default": 7, "name": "seed", "type": "integer"}},
    {{"default": 4, "minimum": 1, "name": "frame_count", "type": "integer"}},
    {{"default": 16, "maximum": 512, "minimum": 2, "name": "frame_size", "type": "integer"}},
    {{"default": 50.0, "name": "threshold", "type": "number"}},
], separators=(",", ":"))
CONTEXT = [
    "--run-id={{{{ run_id }}}}",
    "--try-number={{{{ ti.try_number }}}}",
    "--logical-date={{{{ logical_date.isoformat() if logical_date is defined and logical_date else '' }}}}",
    "--data-interval-start={{{{ data_interval_start.isoformat() if data_interval_start is defined and data_interval_start else '' }}}}",
    "--data-interval-end={{{{ data_interval_end.isoformat() if data_interval_end is defined and data_interval_end else '' }}}}",
    "--run-type={{{{ dag_run.run_type.value if dag_run.run_type.value is defined else dag_run.run_type }}}}",
    "--conf={{{{ (dag_run.conf or {{}}) | tojson }}}}",
    "--parameters={{{{ params | tojson }}}}",
]
ASSET_EVENTS = [{asset_events}]
CARRIER = "((ti.context_carrier if ti.context_carrier is defined else none) or {{}})"
ENV = [
    k8s.V1EnvVar(name="POD_NAME", value_from=k8s.V1EnvVarSource(
        field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.name"))),
    k8s.V1EnvVar(name="POD_NAMESPACE", value_from=k8s.V1EnvVarSource(
        field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.namespace"))),
    k8s.V1EnvVar(name="TRACEPARENT", value=f"{{{{{{{{ {{CARRIER}}.get('traceparent', '') }}}}}}}}"),
    k8s.V1EnvVar(name="TRACESTATE", value=f"{{{{{{{{ {{CARRIER}}.get('tracestate', '') }}}}}}}}"),
    k8s.V1EnvVar(name="OPENLINEAGE_PARENT_ID", value="{{{{ macros.OpenLineageProviderPlugin.lineage_parent_id(ti) if macros is defined and macros.OpenLineageProviderPlugin is defined else '' }}}}"),
]
SMALL = k8s.V1ResourceRequirements(requests={{"cpu": "500m", "memory": "1Gi"}},
                                   limits={{"memory": "2Gi"}})
LARGE = k8s.V1ResourceRequirements(requests={{"cpu": "1", "memory": "2Gi"}},
                                   limits={{"memory": "4Gi"}})
VOLUMES = [k8s.V1Volume(name="data", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
    claim_name="bench-data", read_only=False))]
MOUNTS = [k8s.V1VolumeMount(name="data", mount_path="/data", read_only=False)]
SECRETS = [Secret("env", "TOKEN", "archive-credentials", "token")]
GUARD, RUN_VALUES, RESULT = PodIdentityGuard(), RunValuesHook(), ResultHook()
PUBLISHED = ResultHook(assets=[
    {{"name": "bench_calibrated", "uri": "s3://bench-products/calibrated", "group": "asset",
     "templated": False}},
    {{"name": "bench_daily", "uri": "s3://bench-products/daily/{{ds}}/{{label}}", "group": "asset",
     "templated": True}},
], workflow_name=WORKFLOW, workflow_version=VERSION)
OUTLETS = [Asset(name="bench_calibrated", uri="s3://bench-products/calibrated", group="asset"),
           AssetAlias(name="bench_daily", group="asset")]
DOCS = {{"Read": "Reads the frames of an observation.", "Calibrate": "Calibrates what it read.",
        "Publish": "Publishes the products."}}
RETRIES = {{"Read": 2, "Calibrate": 1, "Publish": 0}}


def status(kind):
    return StatusCallback(kind=kind, workflow_name=WORKFLOW, workflow_version=VERSION)


def pod_task(task_id, task_class, upstreams):
    inputs = ", ".join(
        f'"{{u}}": {{{{{{{{ ti.xcom_pull(task_ids=\\'{{u}}\\') | tojson }}}}}}}}' for u in upstreams
    )
    arguments = [
        "run-task", f"{{PACKAGE}}:{{task_class}}", f"--workflow-name={{WORKFLOW}}",
        f"--workflow-version={{VERSION}}", f"--dag-id={{DAG_ID}}", f"--task-id={{task_id}}",
        *CONTEXT,
        *([f"--inputs={{{{{{inputs}}}}}}"] if upstreams else []), *ASSET_EVENTS,
        f"--declared-parameters={{DECLARED}}", "--result-path=/airflow/xcom/return.json",
    ]
    extra = {{}}
    if task_class == "Calibrate":
        extra["execution_timeout"] = timedelta(hours=1)
    if task_class == "Publish":
        extra["outlets"] = OUTLETS
    shown = task_class if task_id == task_class.lower() else f"{{task_id}} ({{task_class}})"
    return KubernetesPodOperator(
        task_id=task_id, task_display_name=shown, name=task_id.replace("_", "-"),
        retries=RETRIES[task_class], doc_md=DOCS[task_class], arguments=arguments,
        labels={{"processing-core/task": task_id, "processing-core/version": VERSION,
                "processing-core/workflow": WORKFLOW}},
        annotations={{"processing-core/task-class": f"{{PACKAGE}}:{{task_class}}",
                     "processing-core/workflow-version": VERSION}},
        container_resources=LARGE if task_class == "Calibrate" else SMALL,
        post_execute=PUBLISHED if task_class == "Publish" else RESULT,
        **extra,
    )


with DAG(
    dag_id=DAG_ID, dag_display_name=f"{{WORKFLOW}} {{VERSION}}",
    description="A realistic benchmark pipeline.", schedule={schedule},
    tags=[VERSION, "bench", "calibrated", "raw", WORKFLOW], catchup=False,{start_date}
    default_args={{
        "owner": "processing-core", "trigger_rule": "none_failed", "namespace": "default",
        "kubernetes_conn_id": "kubernetes_default", "image": f"benchmarks:{{VERSION}}",
        "image_pull_policy": "IfNotPresent", "do_xcom_push": True, "get_logs": True,
        "durable": True, "on_finish_action": "delete_succeeded_pod",
        "startup_timeout_seconds": 600, "retry_delay": timedelta(minutes=5),
        "on_failure_callback": status("task.failed"), "on_retry_callback": status("task.retrying"),
        "pre_execute": RUN_VALUES, "cmds": ["processing-core"], "env_vars": ENV,
        "callbacks": GUARD, "secrets": SECRETS, "volumes": VOLUMES, "volume_mounts": MOUNTS,
    }},
    on_success_callback=status("run.succeeded"), on_failure_callback=status("run.failed"),
    params=PARAMS,{filters}
):
    tasks = {{}}
    for task_id, task_class, upstreams in {table!r}:
        tasks[task_id] = pod_task(task_id, task_class, upstreams)
        if upstreams:
            [tasks[upstream] for upstream in upstreams] >> tasks[task_id]
"""


def hand_written_twin(workflow: Workflow) -> str:
    """The twin's source for `workflow`, made by `realistic_workflow`."""
    edges = workflow.upstream_task_ids()
    table = [
        (node.task_id, node.task_class.__name__, list(edges[node.task_id]))
        for node in workflow.nodes
    ]
    scheduled = workflow.schedule is not None and not isinstance(workflow.schedule, str)
    if isinstance(workflow.schedule, str):
        schedule = repr(workflow.schedule)
    elif scheduled:
        schedule = 'Asset(name="bench_raw", uri="s3://bench-raw/observations", group="asset")'
    else:
        schedule = "None"
    start = workflow.start_date
    return TWIN.format(
        name=workflow.name,
        schedule=schedule,
        start_date=f"\n    start_date=datetime.fromisoformat({start.isoformat()!r}),"
        if start
        else "",
        filters="\n    user_defined_filters=asset_template_filters()," if scheduled else "",
        asset_events='"--asset-events={{ dag_run | processing_core_asset_events }}"'
        if scheduled
        else "",
        table=table,
    )


def serialized(dag: Any) -> dict[str, Any]:
    """Airflow's serialization of `dag`, without what names the file or the operator class."""
    from airflow.serialization.serialized_objects import DagSerialization

    data = json.loads(json.dumps(DagSerialization.to_dict(dag), default=str, sort_keys=True))
    body = data["dag"]
    # default_args only reach Airflow through the tasks, which are compared whole.
    for key in ("fileloc", "relative_fileloc", "_processor_dags_folder", "default_args"):
        body.pop(key, None)
    for task in body.get("tasks", []):
        inner = task.get("__var", task)
        # A hand-written file's tasks carry copies of the DAG's params, a generated file's do
        # not (render.dag_file.PARAMS_COMMENT): at run time both tasks read the DAG's.
        for key in (
            "task_type",
            "_task_module",
            "_operator_name",
            "custom_operator_name",
            "params",
        ):
            inner.pop(key, None)
    return data
