"""Operator arguments every node shares: retries, timeouts, docs, pool, the entrypoint call."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from processing_core.config import ResourceProfileSettings, Settings
from processing_core.definition import naming
from processing_core.definition.assets import Asset
from processing_core.definition.foreach import Foreach
from processing_core.definition.node import TaskNode
from processing_core.definition.parameters import Parameter, parameter_data
from processing_core.definition.task import TaskBase
from processing_core.definition.volumes import Volume
from processing_core.jinja_safe import jinja_safe_json
from processing_core.nodes.spec import Call

# Airflow's W3C trace context of the running task, as the task's environment: the task span
# continues Airflow's trace. Templates, so the DAG file imports nothing for it; empty when
# Airflow traces nothing, or when its task instance has no carrier (Airflow renders with
# StrictUndefined, hence `is defined`).
_CARRIER = "(ti.context_carrier if ti.context_carrier is defined else none)"
TRACE_CONTEXT_ENV = {
    "TRACEPARENT": "{{ (" + _CARRIER + " or {}).get('traceparent', '') }}",
    "TRACESTATE": "{{ (" + _CARRIER + " or {}).get('tracestate', '') }}",
}
# Airflow's OpenLineage run of the task (`namespace/job/run id`, from the OpenLineage
# provider's macro), whose child run-task's lineage run is; empty without the provider.
_LINEAGE_MACROS = "macros.OpenLineageProviderPlugin"
LINEAGE_PARENT_ENV = {
    "OPENLINEAGE_PARENT_ID": "{{ "
    + _LINEAGE_MACROS
    + ".lineage_parent_id(ti) if macros is defined and "
    + _LINEAGE_MACROS
    + " is defined else '' }}"
}
# What Airflow tells a running task through its environment.
TASK_CONTEXT_ENV = {**TRACE_CONTEXT_ENV, **LINEAGE_PARENT_ENV}

# Where the XCom sidecar of a pod (or a Spark driver) reads the task's result.
XCOM_RESULT_PATH = "/airflow/xcom/return.json"
LABEL_PREFIX = "processing-core"


@dataclass(frozen=True)
class NodeContext:
    """What a node adapter needs besides the task: the workflow's version, image and settings."""

    workflow_name: str
    version: str
    dag_id: str
    image: str
    upstream_task_ids: tuple[str, ...]
    profile: ResourceProfileSettings
    settings: Settings
    declared_parameters: tuple[Parameter, ...] = ()
    # What the task's container mounts: K8S_VOLUMES, the Workflow's, the node's or class's.
    volumes: tuple[Volume, ...] = ()
    # Runs start on asset updates: tasks get the run's asset events (--asset-events).
    asset_scheduled: bool = False
    # The upstreams that are mapped: each gives its instances' results as one list.
    mapped_upstreams: frozenset[str] = frozenset()


def pod_labels(node: TaskNode, context: NodeContext) -> dict[str, str]:
    """Labels a pod's owner can select on: workflow, version and task, as label values."""
    return {
        f"{LABEL_PREFIX}/task": naming.label_value(node.task_id),
        f"{LABEL_PREFIX}/version": naming.label_value(naming.image_tag(context.version)),
        f"{LABEL_PREFIX}/workflow": naming.label_value(context.workflow_name),
    }


def pod_annotations(node: TaskNode, context: NodeContext) -> dict[str, str]:
    """What labels cannot hold: the task's class and the exact (unsanitised) version."""
    return {
        f"{LABEL_PREFIX}/task-class": node.task_class.import_path(),
        f"{LABEL_PREFIX}/workflow-version": context.version,
    }


# The run's values, as Airflow templates, by `run-task` option. Airflow 3 leaves the dates
# out of the context of a run without a logical date (and renders with StrictUndefined):
# they are then empty. Every one is a whole argument (or environment variable), never shell.
_DEFINED = "{name} is defined and {name}"
RUN_TEMPLATES = {
    "run-id": "{{ run_id }}",
    "try-number": "{{ ti.try_number }}",
    **{
        option: "{{ " + f"{name}.isoformat() if {_DEFINED.format(name=name)} else ''" + " }}"
        for option, name in (
            ("logical-date", "logical_date"),
            ("data-interval-start", "data_interval_start"),
            ("data-interval-end", "data_interval_end"),
        )
    },
    # The Task SDK's DagRunType has no __str__ of its own: render its value.
    "run-type": "{{ dag_run.run_type.value if dag_run.run_type.value is defined "
    "else dag_run.run_type }}",
    "conf": "{{ (dag_run.conf or {}) | tojson }}",
    "parameters": "{{ params | tojson }}",
}


# The asset events of an asset-triggered run, through the DAG's filter (airflow_assets).
ASSET_EVENTS_TEMPLATE = "{{ dag_run | processing_core_asset_events }}"
ASSET_FILTERS = "processing_core.airflow_callbacks:asset_template_filters"
RABBITMQ_TRIGGER = "processing_core.airflow_callbacks:rabbitmq_trigger"


def run_templates(context: NodeContext) -> dict[str, str]:
    """The run's values as Airflow templates, by `run-task` option, for this node."""
    templates = dict(RUN_TEMPLATES)
    inputs = inputs_template(context.upstream_task_ids, context.mapped_upstreams)
    if inputs is not None:
        templates["inputs"] = inputs
    if context.asset_scheduled:
        templates["asset-events"] = ASSET_EVENTS_TEMPLATE
    return templates


def mapped_run_templates(node: TaskNode, context: NodeContext) -> dict[str, str]:
    """run_templates, and for an instance of a mapped node its map index."""
    templates = run_templates(context)
    if node.foreach is not None:
        templates["map-index"] = "{{ ti.map_index }}"
    return templates


def templated_run_task_arguments(node: TaskNode, context: NodeContext) -> list[str]:
    """`run-task` arguments for a container: the run's values as Airflow templates."""
    return run_task_arguments(
        node, context, mapped_run_templates(node, context), result_path=XCOM_RESULT_PATH
    )


def timedelta_call(delta: timedelta) -> Call:
    return Call("datetime:timedelta", kwargs={"seconds": delta.total_seconds()})


def markdown(text: str) -> str:
    # Airflow treats a doc_md ending in ".md" as a path and reads that file at parse time;
    # a trailing newline keeps an author's text a text.
    return text + "\n" if text.rstrip().endswith(".md") else text


CALLBACK = "processing_core.airflow_callbacks:StatusCallback"
RESULT_HOOK = "processing_core.airflow_callbacks:ResultHook"
RUN_VALUES_HOOK = "processing_core.airflow_callbacks:RunValuesHook"
IMPORTED_CALLBACK = "processing_core.airflow_callbacks:ImportedCallback"
# The DAG's Jinja filters when it has a mapped node (the asset filters among them).
TEMPLATE_FILTERS = "processing_core.airflow_callbacks:template_filters"
MAP_LABEL_FILTER = "processing_core_map_label"


def status_callback(kind: str, workflow_name: str, version: str) -> Call:
    """A callback that publishes a status event: for what the task cannot report itself."""
    return Call(
        CALLBACK,
        kwargs={"kind": kind, "workflow_name": workflow_name, "workflow_version": version},
    )


def _failure_callbacks(context: NodeContext) -> Any:
    """processing-core's `task.failed` event, and FAILURE_CALLBACK's when one is set."""
    ours = status_callback("task.failed", context.workflow_name, context.version)
    if context.settings.failure_callback is None:
        return ours
    return [ours, Call(IMPORTED_CALLBACK, args=(context.settings.failure_callback,))]


def task_display_name(node: TaskNode) -> str:
    """What the graph's node says: the task class (with the task id when they differ), and
    whether it is a Spark task, rather than the operator's name."""
    from processing_core.definition.spark_task import SparkTaskBase

    name = node.task_class.__name__
    if node.task_id != naming.snake_case(name):
        name = f"{node.task_id} ({name})"
    return name + (" · Spark" if issubclass(node.task_class, SparkTaskBase) else "")


def base_operator_kwargs(node: TaskNode, context: NodeContext) -> dict[str, Any]:
    """BaseOperator arguments from what the task class declares, and the status callbacks."""
    task: type[TaskBase] = node.declared  # with add_node's overrides
    profile = context.profile
    kwargs: dict[str, Any] = {
        "task_id": node.task_id,
        "task_display_name": task_display_name(node),
        "retries": task.retries,
        "retry_delay": timedelta_call(task.retry_delay),
        "on_failure_callback": _failure_callbacks(context),
        "on_retry_callback": status_callback(
            "task.retrying", context.workflow_name, context.version
        ),
        # Run values too large for one argument reach run-task through the environment.
        "pre_execute": Call(RUN_VALUES_HOOK),
        # The result is the XCom (an object on every target); a task whose complete() found
        # its work done shows as skipped; produced assets get the task's extra.
        "post_execute": Call(RESULT_HOOK, kwargs=_result_hook_kwargs(task, context)),
    }
    if task.produces:
        kwargs["outlets"] = [outlet(asset) for asset in task.produces]
    backoff = task.retry_exponential_backoff
    if backoff:
        kwargs["retry_exponential_backoff"] = 2.0 if backoff is True else float(backoff)
    if task.max_retry_delay is not None:
        kwargs["max_retry_delay"] = timedelta_call(task.max_retry_delay)
    if task.execution_timeout is not None:
        kwargs["execution_timeout"] = timedelta_call(task.execution_timeout)
    if node.foreach is not None:
        kwargs["map_index_template"] = map_index_template(node.foreach)
    if profile.pool:
        kwargs["pool"] = profile.pool
    documentation = task.documentation()
    if documentation:
        kwargs["doc_md"] = markdown(documentation)
    return kwargs


def map_index_template(foreach: Foreach) -> str:
    """Airflow's map_index_template of a mapped node: its filter names each instance by its
    element (airflow/foreach.py), as soon as the instance starts."""
    return "{{ ti | " + MAP_LABEL_FILTER + "(" + jinja_safe_json(foreach.data()) + ") }}"


def outlet(asset: Asset) -> Call:
    """The Airflow outlet of a produced asset: the Asset, or for a URI the run renders, the
    AssetAlias the run's event is added through."""
    if asset.templated:
        return Call("airflow.sdk:AssetAlias", kwargs={"name": asset.key, "group": asset.group})
    return Call(
        "airflow.sdk:Asset", kwargs={"name": asset.key, "uri": asset.uri, "group": asset.group}
    )


def asset_data(asset: Asset) -> dict[str, Any]:
    return {"name": asset.key, "uri": asset.uri, "group": asset.group}


def _result_hook_kwargs(task: type[TaskBase], context: NodeContext) -> dict[str, Any]:
    if not task.produces:
        return {}
    return {
        "assets": [{**asset_data(a), "templated": a.templated} for a in task.produces],
        "workflow_name": context.workflow_name,
        "workflow_version": context.version,
    }


def run_task_arguments(
    node: TaskNode,
    context: NodeContext,
    run_values: Mapping[str, str],
    *,
    result_path: str | None,
) -> list[str]:
    """`processing-core run-task` arguments; `run_values` holds the run's values (templates
    or shell variables) by option name, as RUN_TEMPLATES and `inputs`."""
    # `--option=value` words: half the list items of separate words, and the scheduler
    # compiles every list item of every task each time it parses the file.
    arguments = [
        "run-task",
        node.task_class.import_path(),
        f"--workflow-name={context.workflow_name}",
        f"--workflow-version={context.version}",
        f"--dag-id={context.dag_id}",
        f"--task-id={node.task_id}",
        *(f"--{option}={value}" for option, value in run_values.items()),
    ]
    # So `run-task` applies defaults, checks values as Airflow does and refuses undeclared
    # conf keys, wherever it runs (an empty list too: then no conf key is declared).
    declared = jinja_safe_json(parameter_data(context.declared_parameters))
    arguments.append(f"--declared-parameters={declared}")
    if node.foreach is not None:
        arguments.append(f"--foreach={jinja_safe_json(node.foreach.data())}")
    if node.overrides.get("produces") is not None:
        # What this node produces differs from its class's: `self.asset_extra` names these.
        produced = [asset_data(asset) for asset in node.declared.produces]
        arguments.append(f"--produces={jinja_safe_json(produced)}")
    if result_path is not None:  # None: the operator adds its own
        arguments.append(f"--result-path={result_path}")
    return arguments


def inputs_template(upstream_task_ids: tuple[str, ...], mapped: Collection[str] = ()) -> str | None:
    """A Jinja template rendering `{"<upstream>": <its XCom result>, ...}` as JSON.

    A mapped upstream gives the list of its instances' results in map order: pulled as a
    list of task ids, Airflow returns every map index's XCom, ordered ([] when the list was
    empty and the node skipped). Task ids are validated identifiers, so they are safe inside
    both JSON and Jinja.
    """
    if not upstream_task_ids:
        return None
    pairs = ", ".join(
        f"\"{task_id}\": {{{{ ti.xcom_pull(task_ids=['{task_id}']) | reject('none') | list "
        "| tojson }}"
        if task_id in mapped
        else f"\"{task_id}\": {{{{ ti.xcom_pull(task_ids='{task_id}') | tojson }}}}"
        for task_id in upstream_task_ids
    )
    return "{" + pairs + "}"


def startup_timeout_seconds(task: type[TaskBase], context: NodeContext) -> int:
    """Seconds the task's pod may take to start: the task's `startup_timeout`, else the
    K8S_STARTUP_TIMEOUT_SECONDS setting."""
    if task.startup_timeout is not None:
        return max(1, int(task.startup_timeout.total_seconds()))
    return context.settings.k8s_startup_timeout_seconds
