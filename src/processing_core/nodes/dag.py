"""A whole workflow as DAG data: DAG arguments, one operator per task (by target), edges."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from processing_core.config import Settings, load_settings
from processing_core.definition import naming
from processing_core.definition.assets import AllOf, AnyOf, Asset, AssetsOrCron
from processing_core.definition.deadline import normalised
from processing_core.definition.node import TaskNode
from processing_core.definition.parameters import NO_DEFAULT, Parameter
from processing_core.definition.spark_task import SparkTaskBase
from processing_core.definition.volumes import placed_volumes, unique
from processing_core.definition.workflow import Workflow
from processing_core.errors import ExportError, WorkflowDefinitionError
from processing_core.nodes.common import (
    ASSET_FILTERS,
    RABBITMQ_TRIGGER,
    TEMPLATE_FILTERS,
    NodeContext,
    markdown,
    outlet,
    status_callback,
)
from processing_core.nodes.deadline import deadline_alerts, require_deadline_support
from processing_core.nodes.foreach import items_operator
from processing_core.nodes.kubernetes import kubernetes_operator
from processing_core.nodes.local import local_operator
from processing_core.nodes.spark import spark_operator
from processing_core.nodes.spark_submit import spark_submit_operator
from processing_core.nodes.spec import Call, DagSpec, OperatorSpec, plain_data, plain_operator

Target = Literal["kubernetes", "local"]
TARGETS: tuple[str, ...] = get_args(Target)
PARAM = "airflow.sdk:Param"


@dataclass(frozen=True)
class ExportOptions:
    """How workflows are exported: where tasks run, and which version and image they use."""

    target: Target
    settings: Settings
    version: str | None = None
    image: str | None = None
    # `validate` only: the version a workflow that resolves none is checked as (export
    # refuses such a workflow, naming where a version comes from).
    fallback_version: str | None = None

    @classmethod
    def create(
        cls,
        target: str = "kubernetes",
        *,
        version: str | None = None,
        image: str | None = None,
        settings: Settings | None = None,
    ) -> ExportOptions:
        """Check the options; raise ExportError naming each bad one and its fix."""
        settings = settings or load_settings()
        problems = []
        if target not in TARGETS:
            problems.append(f"target {target!r} is unknown; use one of {list(TARGETS)}")
        for name, reference in (
            ("--image", image),
            ("PIPELINE_IMAGE_REPOSITORY", settings.pipeline_image_repository),
        ):
            if reference is not None and not naming.IMAGE_REF_RE.fullmatch(reference):
                problems.append(
                    f"{name} {reference!r} is not an image reference; write e.g. "
                    "'registry.example.org/team/pipeline' (optionally with ':tag' or '@sha256:...')"
                )
        try:
            words = shlex.split(settings.local_command)
        except ValueError as error:
            words = []
            problems.append(f"LOCAL_COMMAND {settings.local_command!r} cannot be split: {error}")
        if not words or any(mark in settings.local_command for mark in ("{{", "{%", "{#")):
            problems.append(
                f"LOCAL_COMMAND {settings.local_command!r} must be a command without Jinja "
                "markers, e.g. 'processing-core' or 'python -m processing_core'"
            )
        if problems:
            raise ExportError(problems)
        return cls(target=target, settings=settings, version=version, image=image)  # type: ignore[arg-type]

    def image_for(self, workflow: Workflow, version: str) -> str:
        """`--image` or PIPELINE_IMAGE_REPOSITORY (default: the package name), tagged by version."""
        reference = self.image or self.settings.pipeline_image_repository
        if reference is None:
            reference = naming.dns_label(workflow.workflow_package.replace("_", "-"))
        match = naming.IMAGE_REF_RE.fullmatch(reference)
        if match and (match["tag"] or match["digest"]):
            return reference
        return f"{reference}:{naming.image_tag(version)}"


def build_dag_spec(workflow: Workflow, options: ExportOptions) -> DagSpec:
    """Validate the workflow and turn it into DAG data; raises WorkflowDefinitionError."""
    override = options.version
    if override is None and options.fallback_version:
        try:  # its own version, else the one `validate` checks an unversioned workflow as
            override = workflow.resolve_version(None, options.settings)
        except WorkflowDefinitionError:
            override = options.fallback_version
    workflow.validate(options.settings, override)
    if workflow.deadlines:
        require_deadline_support(workflow.name)
    version = workflow.resolve_version(override, options.settings)
    dag_id = workflow.dag_id(version)
    edges = workflow.upstream_task_ids()
    profiles = options.settings.profiles()
    tasks: list[OperatorSpec] = []
    extra_edges: list[tuple[str, str]] = []
    image = options.image_for(workflow, version)
    mapped = frozenset(workflow.mapped_task_ids())
    for node in workflow.nodes:
        if node.foreach is not None and all(
            task.task_id != node.foreach.items_task_id for task in tasks
        ):
            # The task that hands the list's length to the scheduler, once per list.
            tasks.append(items_operator(workflow, version, node.foreach))
            extra_edges.append((node.foreach.task_id, node.foreach.items_task_id))
        context = NodeContext(
            workflow_name=workflow.name,
            version=version,
            dag_id=dag_id,
            image=image,
            upstream_task_ids=edges[node.task_id],
            profile=profiles[node.declared.resource_profile],
            settings=options.settings,
            declared_parameters=workflow.parameters,
            asset_scheduled=workflow.scheduled_on_assets(),
            mapped_upstreams=mapped,
            volumes=tuple(
                unique(
                    volume
                    for _, volume in placed_volumes(
                        options.settings.volumes(), workflow.volumes, node
                    )
                )
            ),
        )
        operator = _adapter(options.target, node.task_class)(node, context)
        if node.foreach is not None:
            operator = replace(operator, expand_from=node.foreach.items_task_id)
        try:
            tasks.append(plain_operator(operator))
        except ValueError as error:
            raise WorkflowDefinitionError(
                f"Workflow {workflow.name!r}: task {node.task_id!r}: {error}"
            ) from None
    try:
        dag_kwargs = plain_data(
            _dag_kwargs(workflow, version, dag_id, options.settings), "DAG argument"
        )
    except ValueError as error:
        raise WorkflowDefinitionError(f"Workflow {workflow.name!r}: {error}") from None
    return DagSpec(
        dag_id=dag_id,
        workflow_name=workflow.name,
        version=version,
        target=options.target,
        dag_kwargs=dag_kwargs,
        tasks=tuple(tasks),
        edges=(
            *extra_edges,
            *(
                (upstream, node.task_id)
                for node in workflow.nodes
                for upstream in edges[node.task_id]
            ),
        ),
    )


def has_version(workflow: Workflow, options: ExportOptions) -> bool:
    """Whether the workflow resolves a version of its own (declared, BUILD_VERSION, or its
    installed distribution's)."""
    try:
        workflow.resolve_version(None, options.settings)
    except WorkflowDefinitionError:
        return False
    return True


def _adapter(target: str, task: type) -> Callable[[TaskNode, NodeContext], OperatorSpec]:
    """The node adapter for a task on a target: local runs on the Airflow worker (Spark tasks
    through spark-submit to SPARK_CONN_ID's master), kubernetes in the pipeline image."""
    if target == "local":
        return spark_submit_operator if issubclass(task, SparkTaskBase) else local_operator
    return spark_operator if issubclass(task, SparkTaskBase) else kubernetes_operator


def _dag_kwargs(
    workflow: Workflow, version: str, dag_id: str, settings: Settings
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "dag_id": dag_id,
        # How the UI lists it: the workflow and its version, as people say them.
        "dag_display_name": f"{workflow.name} {version}",
        "description": workflow.description
        or f"{workflow.name} {version}: {workflow.input_data} to {workflow.output_data}",
        "schedule": _dag_schedule(workflow),
        "tags": workflow.tags(version),
        # none_failed: a task runs after upstreams skipped because their work was complete.
        "default_args": {"owner": workflow.owner, "trigger_rule": "none_failed"},
        "catchup": workflow.catchup,
    }
    if workflow.doc_md:
        kwargs["doc_md"] = markdown(workflow.doc_md)
    if workflow.start_date is not None:
        kwargs["start_date"] = Call(
            "datetime:datetime.fromisoformat", args=(workflow.start_date.isoformat(),)
        )
    kwargs["on_success_callback"] = status_callback("run.succeeded", workflow.name, version)
    kwargs["on_failure_callback"] = status_callback("run.failed", workflow.name, version)
    if workflow.deadlines:
        kwargs["deadline"] = deadline_alerts(
            normalised(workflow.deadlines), workflow.name, version, settings.deadline_callback
        )
    if workflow.max_active_runs is not None:
        kwargs["max_active_runs"] = workflow.max_active_runs
    if workflow.parameters:
        kwargs["params"] = {p.name: _param(p) for p in workflow.parameters}
    if workflow.mapped_task_ids():
        # The filter that names a mapped node's instances, and the asset filters.
        kwargs["user_defined_filters"] = Call(TEMPLATE_FILTERS)
    elif workflow.scheduled_on_assets():
        # The filter that hands each task the run's asset events (nodes.common).
        kwargs["user_defined_filters"] = Call(ASSET_FILTERS)
    return kwargs


def _dag_schedule(workflow: Workflow) -> Any:
    """The schedule, with the asset whose watcher turns `triggered_by`'s messages into
    events: alone, or any of it and the schedule's assets, or beside the schedule's cron."""
    schedule = _schedule(workflow.schedule)
    messages = workflow.triggered_by
    if messages is None:
        return schedule
    asset = messages.asset
    watched = Call(
        "airflow.sdk:Asset",
        kwargs={
            "name": asset.key,
            "uri": asset.uri,
            "group": asset.group,
            "watchers": [
                Call(
                    "airflow.sdk:AssetWatcher",
                    kwargs={
                        "name": f"rabbitmq-{messages.queue}",
                        "trigger": Call(RABBITMQ_TRIGGER, kwargs=messages.trigger_kwargs()),
                    },
                )
            ],
        },
    )
    if schedule is None:
        return watched
    if isinstance(workflow.schedule, str):
        return _assets_or_cron(workflow.schedule, watched)
    if isinstance(workflow.schedule, AssetsOrCron):
        either = Call("airflow.sdk:AssetAny", args=(schedule.kwargs["assets"], watched))
        return _assets_or_cron(workflow.schedule.cron, either)
    return Call("airflow.sdk:AssetAny", args=(schedule, watched))


def _assets_or_cron(cron: str, assets: Any) -> Call:
    timetable = Call("airflow.sdk:CronTriggerTimetable", args=(cron,), kwargs={"timezone": "UTC"})
    return Call(
        "airflow.sdk:AssetOrTimeSchedule", kwargs={"timetable": timetable, "assets": assets}
    )


def _schedule(schedule: object) -> Any:
    """Workflow(schedule=...) as the DAG's schedule: cron text, or Airflow's asset objects."""
    if isinstance(schedule, AssetsOrCron):
        return _assets_or_cron(schedule.cron, _schedule(schedule.assets))
    if isinstance(schedule, AllOf | AnyOf):
        target = "airflow.sdk:AssetAll" if isinstance(schedule, AllOf) else "airflow.sdk:AssetAny"
        return Call(target, args=tuple(_schedule(item) for item in schedule.items))
    if isinstance(schedule, Asset):
        return outlet(schedule)  # a templated one: the alias its producers add events through
    return schedule


def _param(parameter: Parameter) -> Call:
    """The trigger form's field: a title, the description with the allowed range (the form
    does not show minimum and maximum), and required only when there is no default. The
    description is Markdown (`description_md`: the form renders it, `code` and links
    included; a plain `description` would show the backticks)."""
    kwargs: dict[str, Any] = {}
    default = parameter.effective_default()
    if default is not NO_DEFAULT:
        kwargs["default"] = default
    description = " ".join(filter(None, [parameter.description, _range_hint(parameter)]))
    if description:
        kwargs["description_md"] = description
    kwargs["title"] = parameter.title or parameter.name.replace("_", " ").capitalize()
    kwargs |= parameter.json_schema()
    return Call(PARAM, kwargs=kwargs)


def _range_hint(parameter: Parameter) -> str:
    low, high = parameter.minimum, parameter.maximum
    if low is not None and high is not None:
        return f"(from {low:g} to {high:g})"
    if low is not None:
        return f"(at least {low:g})"
    if high is not None:
        return f"(at most {high:g})"
    return ""
