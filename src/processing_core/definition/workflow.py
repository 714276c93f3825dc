"""Workflow: a named, versioned graph of task classes, validated before anything is written."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from processing_core.definition import naming, spark, spark_sizes
from processing_core.definition.assets import (
    Asset,
    AssetsOrCron,
    Condition,
    asset_set_problems,
    assets_in,
)
from processing_core.definition.checks import (
    AIRFLOW_TAG_MAX,
    cycle_problems,
    not_a_task,
    schedule_problems,
    task_class_problems,
    task_id_problems,
    template_field_problems,
    version_problems,
)
from processing_core.definition.deadline import Deadline, as_deadlines, deadline_problems
from processing_core.definition.foreach import (
    DEFAULT_MAX_MAP_LENGTH,
    Foreach,
    foreach_problems,
    max_map_length_problems,
    parse_reference,
    template_problems,
)
from processing_core.definition.messages import RabbitMQMessages
from processing_core.definition.node import TaskNode, UpstreamRef, with_overrides
from processing_core.definition.parameters import (
    NO_DEFAULT,
    Parameter,
    template_default_warning,
)
from processing_core.definition.resources import Resources
from processing_core.definition.spark_task import SparkTaskBase
from processing_core.definition.task import RunContext, TaskBase
from processing_core.definition.volumes import (
    Volume,
    declared_volumes_problems,
    placed_volumes,
    volume_set_problems,
)
from processing_core.errors import WorkflowDefinitionError

__all__ = ["NODE_OVERRIDES", "TaskNode", "Workflow", "task_class_problems", "with_overrides"]

if TYPE_CHECKING:
    from processing_core.config import Settings

# What add_node may set for one node, over what the task class declares.
NODE_OVERRIDES = (
    "retries",
    "retry_delay",
    "execution_timeout",
    "startup_timeout",
    "resources",
    "resource_profile",
    "volumes",
    "produces",
)

# What Workflow(schedule=...) takes: none, a cron expression or preset, assets, or both.
Schedule = str | Condition | AssetsOrCron | None


class Workflow:
    """A graph of tasks that becomes one Airflow DAG per version.

    The name is built from its parts: `<input_data>_to_<output_data>_<category>[_<detail>]`;
    the dag_id is `<name>_<version>`, so versions live side by side in Airflow.
    """

    def __init__(
        self,
        input_data: str,
        output_data: str,
        category: str,
        detail: str | None = None,
        *,
        version: str | None = None,
        workflow_package: str | None = None,
        description: str | None = None,
        doc_md: str | None = None,
        tags: Iterable[str] = (),
        schedule: Schedule = None,
        start_date: datetime | None = None,
        owner: str = "processing-core",
        max_active_runs: int | None = None,
        catchup: bool = False,
        parameters: Sequence[Parameter] = (),
        volumes: Sequence[Volume] = (),
        triggered_by: RabbitMQMessages | None = None,
        max_map_length: int = DEFAULT_MAX_MAP_LENGTH,
        deadline: timedelta | Deadline | Sequence[timedelta | Deadline] | None = None,
    ) -> None:
        parts = {"input_data": input_data, "output_data": output_data, "category": category}
        if detail is not None:
            parts["detail"] = detail
        bad = [
            f"{key}={value!r}"
            for key, value in parts.items()
            if not isinstance(value, str) or not naming.NAME_PART_RE.fullmatch(value)
        ]
        if bad:
            raise WorkflowDefinitionError(
                f"Workflow name parts {', '.join(bad)} are not valid: use letters, digits and "
                "single '_' or '-' between them (e.g. input_data='l0', category='vbi', "
                "detail='summit-calibrated')"
            )
        self.input_data = input_data
        self.output_data = output_data
        self.category = category
        self.detail = detail
        self.name = f"{input_data}_to_{output_data}_{category}" + (f"_{detail}" if detail else "")
        self.declared_version = version
        # The package whose distribution gives the version when nothing else does.
        self.workflow_package = workflow_package or _caller_package()
        self.description = description
        self.doc_md = doc_md
        self.extra_tags = tuple(tags) if not isinstance(tags, str) else (tags,)
        self.schedule = schedule
        self.start_date = start_date
        self.owner = owner
        self.max_active_runs = max_active_runs
        # Whether a scheduled workflow runs the intervals it missed (since start_date, or
        # while paused); off by default, as in Airflow.
        self.catchup = catchup
        self.parameters = tuple(parameters)
        # Mounted by every task's container (see processing_core.Volume).
        self.volumes: Sequence[Volume] = (
            tuple(volumes) if isinstance(volumes, list | tuple) else volumes
        )
        # Messages that each start a run (besides the schedule), through an asset's watcher.
        self.triggered_by = triggered_by
        # The longest list a mapped node (add_node(foreach=...)) runs over, unless the node
        # says otherwise: a run that produces a longer one fails naming the list.
        self.max_map_length = max_map_length
        # When a run is late (a `run.late` event): Airflow's DeadlineAlert, one per deadline.
        self.deadlines = as_deadlines(deadline)
        self._nodes: dict[str, TaskNode] = {}

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, tasks={list(self._nodes)})"

    # -- building the graph -------------------------------------------------------------------
    @property
    def nodes(self) -> tuple[TaskNode, ...]:
        return tuple(self._nodes.values())

    def add_node(
        self,
        task: type[TaskBase],
        upstreams: UpstreamRef | Iterable[UpstreamRef] | None = None,
        task_id: str | None = None,
        *,
        retries: int | None = None,
        retry_delay: timedelta | None = None,
        execution_timeout: timedelta | None = None,
        startup_timeout: timedelta | None = None,
        resources: Resources | None = None,
        resource_profile: str | None = None,
        volumes: Sequence[Volume] | None = None,
        produces: Sequence[Asset] | None = None,
        foreach: str | None = None,
        max_map_length: int | None = None,
        map_index_template: str | None = None,
        resource_queue: object = None,
        pip_extras: object = None,
    ) -> TaskNode:
        """Add a task class; `upstreams` are task classes or task ids (also ones added later).

        `foreach="split.frames"` runs the task once per element of the list output `frames`
        of its upstream task `split`, decided at run time: each instance finds its element in
        `self.item` and its position in `self.map_index`, and a downstream task finds the
        instances' results as one list in map order. `max_map_length` bounds the list (default:
        the Workflow's); `map_index_template` names each instance in the UI, a Jinja text over
        `item` and `map_index` (default: the element itself).

        `retries`, `retry_delay`, `execution_timeout`, `startup_timeout`, `resources`,
        `resource_profile`, `volumes` and `produces` override what the class declares, for
        this node only (None: as the class declares), so one class can run with two sizes,
        in two workflows or twice in one.

        Raises WorkflowDefinitionError at once for what can be known now: the class, its
        declarations, the overrides and the task id. References are checked by `validate()`.
        """
        given = {
            "retries": retries,
            "retry_delay": retry_delay,
            "execution_timeout": execution_timeout,
            "startup_timeout": startup_timeout,
            "resources": resources,
            "resource_profile": resource_profile,
            "volumes": tuple(volumes) if isinstance(volumes, list) else volumes,
            "produces": tuple(produces) if isinstance(produces, list) else produces,
        }
        overrides = {name: value for name, value in given.items() if value is not None}
        if resource_queue is not None or pip_extras is not None:
            # dkist-processing-core's add_node arguments, on a half-moved pipeline.
            raise self._error(
                "add_node got resource_queue=/pip_extras=, which are dkist-processing-core's: "
                "import Workflow from processing_core.compat.dkist, or pass "
                "resource_profile='high_memory' here (pip extras belong in the pipeline image)"
            )
        if not (inspect.isclass(task) and issubclass(task, TaskBase)):
            raise self._error(not_a_task(task))
        task_id = naming.snake_case(task.__name__) if task_id is None else task_id
        problems = [*task_id_problems(task_id), *task_class_problems(task)]
        if overrides and not problems:
            declared = with_overrides(task, overrides)
            problems.extend(f"add_node override: {p}" for p in task_class_problems(declared))
        if task_id in self._nodes:
            problems.append(
                f"task id {task_id!r} is already used by "
                f"{self._nodes[task_id].task_class.__name__}; "
                f"pass task_id= to add_node to add {task.__name__} under another id"
            )
        mapped, foreach_found = self._foreach(foreach, max_map_length, map_index_template)
        problems.extend(foreach_found)
        refs = _upstream_refs(upstreams)
        for ref in refs:
            if not (isinstance(ref, str) or (inspect.isclass(ref) and issubclass(ref, TaskBase))):
                problems.append(
                    f"upstream {ref!r} is neither a TaskBase subclass nor a task id string"
                )
        if problems:
            raise self._error(*problems, task=task_id if isinstance(task_id, str) else task)
        node = TaskNode(
            task_id=task_id,
            task_class=task,
            upstream_refs=refs,
            overrides=overrides,
            foreach=mapped,
        )
        self._nodes[task_id] = node
        return node

    def _foreach(
        self, reference: object, max_map_length: object, template: object
    ) -> tuple[Foreach | None, list[str]]:
        """add_node's foreach, checked as far as one node can be (the rest: `problems()`)."""
        if reference is None:
            if max_map_length is not None or template is not None:
                return None, [
                    "max_map_length= and map_index_template= apply to a mapped node; add "
                    "foreach='<upstream task id>.<output>' or leave them out"
                ]
            return None, []
        parsed = parse_reference(reference)
        if isinstance(parsed, str):
            return None, [parsed]
        limit = self.max_map_length if max_map_length is None else max_map_length
        problems = max_map_length_problems(limit, "max_map_length")
        if template is not None:
            problems.extend(template_problems(template))
        if problems:
            return None, problems
        return Foreach(parsed[0], parsed[1], limit, template), []  # type: ignore[arg-type]

    def run_context(
        self,
        task_id: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        inputs: Mapping[str, Mapping[str, Any]] | None = None,
        version: str | None = None,
        **run: Any,
    ) -> RunContext:
        """The RunContext this workflow's task `task_id` gets in a run: for tests and local runs.

        Parameters are resolved as Airflow resolves them (defaults applied, each value checked
        against its declaration); `inputs` may only name the task's upstreams. `run` takes
        RunContext's other fields (run_id, try_number, logical_date, conf, ...).
        """
        from processing_core.definition.parameters import ParameterError

        upstreams = self.upstream_task_ids()
        if task_id not in upstreams:
            raise self._error(
                f"run_context: task {task_id!r} is not in this workflow (tasks: {list(upstreams)})"
            )
        unknown = sorted(set(inputs or {}) - set(upstreams[task_id]))
        if unknown:
            raise self._error(
                f"run_context: inputs name {unknown}, which are not upstreams of this task; its "
                f"upstream tasks are {list(upstreams[task_id])}",
                task=task_id,
            )
        if version is None:
            try:
                version = self.resolve_version()
            except WorkflowDefinitionError:
                version = "0+unversioned"  # a test of a package that is not installed
        try:
            return RunContext(
                workflow_name=self.name,
                workflow_version=version,
                task_id=task_id,
                dag_id=self.dag_id(version),
                parameters=dict(parameters or {}),
                inputs=dict(inputs or {}),
                declared_parameters=self.parameters,
                **run,
            )
        except ParameterError as error:
            raise self._error(f"run_context: {error}", task=task_id) from None

    # -- validation ---------------------------------------------------------------------------
    def resolve_version(self, override: str | None = None, settings: Settings | None = None) -> str:
        """The version: `override` (export's --version), the declared one, BUILD_VERSION, then
        the installed version of the workflow package's distribution."""
        from processing_core.config import load_settings

        settings = settings or load_settings()
        version = override or self.declared_version or settings.build_version
        if version is None:
            version = _distribution_version(self.workflow_package)
        if version is None:
            raise self._error(
                f"no version: package {self.workflow_package!r} is not an installed distribution; "
                "pass --version to export, set BUILD_VERSION, or give Workflow(version=...)"
            )
        return version

    def dag_id(self, version: str) -> str:
        return f"{self.name}_{naming.image_tag(version)}"

    def tags(self, version: str) -> list[str]:
        # The workflow's name selects all its versions in the UI's tag filter.
        base = [self.name, self.input_data, self.output_data, self.category, version]
        return sorted({*base, *self.extra_tags})

    def node(self, task_id: str) -> TaskNode:
        """The node of task `task_id`; WorkflowDefinitionError names the tasks there are."""
        if task_id in self._nodes:
            return self._nodes[task_id]
        tasks = list(self._nodes)
        raise self._error(f"no task {task_id!r} in this workflow; its tasks are {tasks}")

    def upstream_task_ids(self) -> dict[str, tuple[str, ...]]:
        """Task id -> upstream task ids; raises WorkflowDefinitionError on a bad reference."""
        problems, edges = self._resolve_edges()
        if problems:
            raise self._error(*problems)
        return edges

    def problems(self, settings: Settings, version_override: str | None = None) -> list[str]:
        """Everything wrong with this workflow, each naming the workflow, task and fix."""
        found: list[str] = []
        if not self._nodes:
            found.append(
                f"Workflow {self.name!r} has no tasks; add at least one with add_node(TaskClass)"
            )
        try:
            version = self.resolve_version(version_override, settings)
        except WorkflowDefinitionError as error:
            found.extend(error.problems)
        else:
            found.extend(self._prefixed(version_problems(self.name, self.dag_id(version), version)))
        edge_problems, edges = self._resolve_edges()
        found.extend(self._prefixed(edge_problems))
        if not edge_problems:
            found.extend(self._prefixed(cycle_problems(edges)))
            found.extend(self._foreach_problems(edges))
        found.extend(
            self._prefixed(max_map_length_problems(self.max_map_length, "Workflow max_map_length"))
        )
        profiles = settings.profiles()
        found.extend(self._prefixed(declared_volumes_problems(self.volumes, "Workflow volumes")))
        for node in self._nodes.values():
            placed = placed_volumes(settings.volumes(), self.volumes, node)
            found.extend(
                self._message(problem, task=node.task_id) for problem in volume_set_problems(placed)
            )
            task = node.task_class
            if issubclass(task, SparkTaskBase) and not spark.declared_problems(
                task.spark_resources
            ):
                found.extend(
                    self._message(problem, task=node.task_id)
                    for problem in spark_sizes.resolved_problems(task.spark_resources, settings)
                )
            profile = node.declared.resource_profile
            if profile not in profiles:
                found.append(
                    self._message(
                        f"resource_profile {profile!r} is unknown; use one of {sorted(profiles)} "
                        "or define it in RESOURCE_PROFILES",
                        task=node.task_id,
                    )
                )
        found.extend(self._prefixed(self._dag_level_problems()))
        found.extend(self._prefixed(self._asset_problems()))
        return found

    def image_extras(self) -> dict[str, list[str]]:
        """Task id -> Python extras the pipeline image must carry for it (none here; a
        compatibility layer may have some), recorded in the bundle's manifest."""
        return {}

    def warnings(self) -> list[str]:
        """Likely mistakes that do not stop an export (a literal value can be meant): what
        `validate`, `export` and `run` say as `warning:` lines."""
        return [
            warning
            for parameter in self.parameters
            if isinstance(parameter, Parameter)
            for warning in [template_default_warning(parameter)]
            if warning
        ]

    def export_notes(self) -> list[str]:
        """What an export should tell the author besides the files (none here; a
        compatibility layer may have some, e.g. what it cannot carry over)."""
        return []

    def produced_assets(self) -> list[tuple[str, Asset]]:
        """(task id, asset) for every asset a task of this workflow produces."""
        return [
            (node.task_id, asset)
            for node in self._nodes.values()
            if isinstance(node.declared.produces, list | tuple)
            for asset in node.declared.produces
            if isinstance(asset, Asset)
        ]

    def scheduled_on_assets(self) -> bool:
        """Whether runs start when assets are updated or messages arrive (then tasks get the
        asset events)."""
        return self.triggered_by is not None or any(True for _ in assets_in(self.schedule))

    def _asset_problems(self) -> list[str]:
        produced = self.produced_assets()
        found = [
            f"task {task_id!r}: {problem}"
            for task_id, asset in produced
            for problem in template_field_problems(asset, self.parameters)
        ]
        consumed = list(assets_in(self.schedule))
        placed = [(f"task {task_id!r}", asset) for task_id, asset in produced]
        placed += [("the schedule", asset) for asset in consumed]
        if self.triggered_by is not None:
            if not isinstance(self.triggered_by, RabbitMQMessages):
                found.append(
                    f"triggered_by {self.triggered_by!r} is not RabbitMQMessages(queue=...)"
                )
            else:
                found.extend(self.triggered_by.problems())
                placed.append(("triggered_by", self.triggered_by.asset))
        found.extend(asset_set_problems(placed))
        own = {asset.key: task_id for task_id, asset in produced}
        for asset in consumed:
            if asset.key in own:
                found.append(
                    f"the schedule waits for asset {asset.key!r}, which its own task "
                    f"{own[asset.key]!r} produces: each run would start the next; schedule "
                    "on another workflow's asset"
                )
        return found

    def validate(self, settings: Settings | None = None, version: str | None = None) -> None:
        """Raise WorkflowDefinitionError listing every problem, if there is any."""
        from processing_core.config import load_settings

        problems = self.problems(settings or load_settings(), version)
        if problems:
            raise WorkflowDefinitionError(problems)

    def __getattr__(self, name: str) -> Any:
        if name == "to_dag":  # moved to Airflow's side: say where, without importing it
            raise AttributeError(
                "Workflow.to_dag() moved to Airflow's side of the library: call "
                "processing_core.airflow.to_dag(workflow, target, version=..., settings=...)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- internals ----------------------------------------------------------------------------
    def _resolve_edges(self) -> tuple[list[str], dict[str, tuple[str, ...]]]:
        by_class: dict[type[TaskBase], list[str]] = {}
        for node in self._nodes.values():
            by_class.setdefault(node.task_class, []).append(node.task_id)
        problems: list[str] = []
        edges: dict[str, tuple[str, ...]] = {}
        for node in self._nodes.values():
            upstream_ids: list[str] = []
            for ref in node.upstream_refs:
                if isinstance(ref, str):
                    if ref not in self._nodes:
                        problems.append(
                            f"task {node.task_id!r} lists upstream {ref!r}, which is not in this "
                            "workflow; add it with add_node or fix the name "
                            f"(tasks: {list(self._nodes)})"
                        )
                        continue
                    upstream_ids.append(ref)
                    continue
                candidates = by_class.get(ref, [])
                if not candidates:
                    problems.append(
                        f"task {node.task_id!r} lists upstream {ref.__name__!r}, which is not in "
                        f"this workflow; add it with add_node({ref.__name__})"
                    )
                elif len(candidates) > 1:
                    problems.append(
                        f"task {node.task_id!r} lists upstream {ref.__name__!r}, which is in this "
                        f"workflow {len(candidates)} times ({candidates}); name the one you mean "
                        "by its task id"
                    )
                else:
                    upstream_ids.append(candidates[0])
            edges[node.task_id] = tuple(dict.fromkeys(upstream_ids))
        return problems, edges

    def _foreach_problems(self, edges: Mapping[str, tuple[str, ...]]) -> list[str]:
        found: list[str] = []
        for node in self._nodes.values():
            if node.foreach is None:
                continue
            source = self._nodes.get(node.foreach.task_id)
            if source is not None and source.foreach is not None:
                problems = [
                    f"foreach={node.foreach.reference!r} names task {source.task_id!r}, which is "
                    "mapped itself: map over an output of a task that runs once (a task "
                    f"downstream of {source.task_id!r} gets its instances' results as a list)"
                ]
            else:
                problems = foreach_problems(
                    node.foreach,
                    edges[node.task_id],
                    None if source is None else source.task_class.declared_outputs,
                )
            found.extend(self._message(problem, task=node.task_id) for problem in problems)
        return found

    def mapped_task_ids(self) -> set[str]:
        """The ids of the nodes that run once per element of a list (foreach)."""
        return {node.task_id for node in self._nodes.values() if node.foreach is not None}

    def _dag_level_problems(self) -> list[str]:
        found = []
        for label, text in (("description", self.description), ("doc_md", self.doc_md)):
            if text is not None and not isinstance(text, str):
                found.append(f"{label} must be a string, not {type(text).__name__}")
        for tag in self.extra_tags:
            if not isinstance(tag, str) or not tag.strip() or len(tag) > AIRFLOW_TAG_MAX:
                found.append(
                    f"tag {tag!r} is not usable; tags are non-empty strings of at most "
                    f"{AIRFLOW_TAG_MAX} characters"
                )
        if not isinstance(self.owner, str) or not self.owner.strip():
            found.append(f"owner {self.owner!r} must be a non-empty string")
        if not isinstance(self.catchup, bool):
            found.append(f"catchup {self.catchup!r} must be True or False")
        if self.max_active_runs is not None and (
            isinstance(self.max_active_runs, bool)
            or not isinstance(self.max_active_runs, int)
            or self.max_active_runs < 1
        ):
            found.append(f"max_active_runs {self.max_active_runs!r} must be a whole number >= 1")
        found.extend(schedule_problems(self.schedule, self.start_date))
        found.extend(deadline_problems(self.deadlines))
        names: set[str] = set()
        for parameter in self.parameters:
            if not isinstance(parameter, Parameter):
                found.append(f"parameters must be Parameter(...) objects, got {parameter!r}")
                continue
            found.extend(parameter.problems())
            if parameter.name in names:
                found.append(f"parameter {parameter.name!r} is declared twice; keep one")
            names.add(parameter.name)
            if self.schedule is not None and parameter.effective_default() is NO_DEFAULT:
                found.append(
                    f"parameter {parameter.name!r} is required without a default, so scheduled "
                    "runs could not start; give it a default or remove the schedule"
                )
        return found

    def _message(self, text: str, task: object = None) -> str:
        where = f"Workflow {self.name!r}" + (f": task {task!r}" if task is not None else "")
        return f"{where}: {text}"

    def _prefixed(self, texts: Iterable[str]) -> list[str]:
        return [self._message(text) for text in texts]

    def _error(self, *texts: str, task: object = None) -> WorkflowDefinitionError:
        return WorkflowDefinitionError([self._message(text, task) for text in texts])


def _upstream_refs(upstreams: object) -> tuple[Any, ...]:
    if upstreams is None:
        return ()
    if isinstance(upstreams, str) or inspect.isclass(upstreams):
        return (upstreams,)
    if isinstance(upstreams, Iterable):
        return tuple(upstreams)
    return (upstreams,)


def _caller_package() -> str:
    # Workflow() is called at module level of the pipeline package; its module names the package.
    frame = sys._getframe(2)
    return str(frame.f_globals.get("__name__", "__main__")).partition(".")[0]


def _distribution_version(package: str) -> str | None:
    from importlib import metadata

    top_level = package.partition(".")[0]
    # packages_distributions() misses editable installs, whose RECORD lists only a .pth file;
    # the distribution is then usually named like the package.
    candidates = [
        *metadata.packages_distributions().get(top_level, []),
        top_level,
        top_level.replace("_", "-"),
    ]
    for distribution in candidates:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None
