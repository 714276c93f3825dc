"""Workflow: a named, versioned graph of task classes, validated before anything is written."""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

from processing_core.definition import naming, spark, spark_sizes
from processing_core.definition.assets import (
    RUN_FIELDS,
    AllOf,
    AnyOf,
    Asset,
    AssetsOrCron,
    Condition,
    asset_set_problems,
    assets_in,
    condition_problems,
    declared_assets_problems,
)
from processing_core.definition.messages import RabbitMQMessages
from processing_core.definition.parameters import NO_DEFAULT, Parameter
from processing_core.definition.resources import Resources, SecretRef
from processing_core.definition.spark_task import SparkTaskBase
from processing_core.definition.task import RunContext, TaskBase
from processing_core.definition.volumes import (
    Volume,
    declared_volumes_problems,
    placed_volumes,
    volume_set_problems,
)
from processing_core.errors import WorkflowDefinitionError

if TYPE_CHECKING:
    from processing_core.config import Settings

SCHEDULE_PRESETS = frozenset(
    {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}
)
AIRFLOW_TAG_MAX = 100
# Variables the library sets in every task container; a secret must not shadow them.
RESERVED_ENV_VARS = frozenset({"POD_NAME", "POD_NAMESPACE"})

UpstreamRef = type[TaskBase] | str


# What add_node may set for one node, over what the task class declares.
NODE_OVERRIDES = (
    "retries",
    "retry_delay",
    "execution_timeout",
    "resources",
    "resource_profile",
    "volumes",
    "produces",
)

# What Workflow(schedule=...) takes: none, a cron expression or preset, assets, or both.
Schedule = str | Condition | AssetsOrCron | None


@dataclass(frozen=True)
class TaskNode:
    """One task of a workflow: a class under a task id, with the references to its upstreams.

    `declared` is what Airflow and Kubernetes are told about the task: the class itself, or,
    when add_node overrides some of its declarations for this node, a subclass holding them
    (same module, name and docstring, so `run-task` still loads the class itself).
    """

    task_id: str
    task_class: type[TaskBase]
    upstream_refs: tuple[UpstreamRef, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def declared(self) -> type[TaskBase]:
        if not self.overrides:
            return self.task_class
        return with_overrides(self.task_class, self.overrides)


def with_overrides(task: type[TaskBase], overrides: Mapping[str, Any]) -> type[TaskBase]:
    """`task` with some declarations replaced: a subclass of the same module, name and
    docstring (so `run-task` still finds and reports the class itself)."""
    namespace = {
        **overrides,
        "__module__": task.__module__,
        "__qualname__": task.__qualname__,
        "__doc__": task.__dict__.get("__doc__"),
    }
    return type(task.__name__, (task,), namespace)


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
        resources: Resources | None = None,
        resource_profile: str | None = None,
        volumes: Sequence[Volume] | None = None,
        produces: Sequence[Asset] | None = None,
        resource_queue: object = None,
        pip_extras: object = None,
    ) -> TaskNode:
        """Add a task class; `upstreams` are task classes or task ids (also ones added later).

        `retries`, `retry_delay`, `execution_timeout`, `resources`, `resource_profile`,
        `volumes` and `produces` override what the class declares, for this node only (None:
        as the class declares), so one class can run with two sizes, in two workflows or
        twice in one.

        Raises WorkflowDefinitionError at once for what can be known now: the class, its
        declarations, the overrides and the task id. References are checked by `validate()`.
        """
        given = {
            "retries": retries,
            "retry_delay": retry_delay,
            "execution_timeout": execution_timeout,
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
            raise self._error(_not_a_task(task))
        task_id = naming.snake_case(task.__name__) if task_id is None else task_id
        problems = [*_task_id_problems(task_id), *task_class_problems(task)]
        if overrides and not problems:
            declared = with_overrides(task, overrides)
            problems.extend(f"add_node override: {p}" for p in task_class_problems(declared))
        if task_id in self._nodes:
            problems.append(
                f"task id {task_id!r} is already used by "
                f"{self._nodes[task_id].task_class.__name__}; "
                f"pass task_id= to add_node to add {task.__name__} under another id"
            )
        refs = _upstream_refs(upstreams)
        for ref in refs:
            if not (isinstance(ref, str) or (inspect.isclass(ref) and issubclass(ref, TaskBase))):
                problems.append(
                    f"upstream {ref!r} is neither a TaskBase subclass nor a task id string"
                )
        if problems:
            raise self._error(*problems, task=task_id if isinstance(task_id, str) else task)
        node = TaskNode(task_id=task_id, task_class=task, upstream_refs=refs, overrides=overrides)
        self._nodes[task_id] = node
        return node

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
            found.extend(self._prefixed(_version_problems(self, version)))
        edge_problems, edges = self._resolve_edges()
        found.extend(self._prefixed(edge_problems))
        if not edge_problems:
            found.extend(self._prefixed(_cycle_problems(edges)))
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
            for problem in _template_field_problems(asset, self.parameters)
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
        found.extend(_schedule_problems(self.schedule, self.start_date))
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


def task_class_problems(task: type[TaskBase]) -> list[str]:
    """What is wrong with a task class's declarations; [] when it can be exported."""
    if inspect.isabstract(task):
        missing = sorted(getattr(task, "__abstractmethods__", ()))
        return [
            f"{task.__name__} does not implement {', '.join(m + '()' for m in missing)}; "
            "define `def run(self) -> None:` on the class"
        ]
    found = []
    retries = task.retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        found.append(f"retries is {retries!r}; it must be a whole number >= 0")
    for attribute, optional in (
        ("retry_delay", False),
        ("max_retry_delay", True),
        ("execution_timeout", True),
    ):
        value = getattr(task, attribute)
        if value is None and optional:
            continue
        if not isinstance(value, timedelta) or value.total_seconds() < 0:
            found.append(
                f"{attribute} is {value!r}; declare a non-negative datetime.timedelta"
                + (" or None" if optional else "")
            )
        elif attribute == "execution_timeout" and value.total_seconds() == 0:
            found.append("execution_timeout is zero; declare a positive timedelta or None")
    backoff = task.retry_exponential_backoff
    if not isinstance(backoff, int | float) or not math.isfinite(backoff) or backoff < 0:
        found.append(
            f"retry_exponential_backoff is {backoff!r}; declare a multiplier >= 0 (2.0 doubles "
            "the delay after each retry) or True/False"
        )
    if not isinstance(task.resources, Resources):
        found.append(
            f"resources is {task.resources!r}; declare "
            "processing_core.Resources(cpu_request=..., ...)"
        )
    else:
        found.extend(task.resources.problems())
    if not isinstance(task.resource_profile, str):
        found.append(f"resource_profile must be a profile name, not {task.resource_profile!r}")
    found.extend(_secret_problems(task.secrets))
    found.extend(declared_volumes_problems(task.volumes, "volumes"))
    found.extend(declared_assets_problems(task.produces, "produces"))
    if issubclass(task, SparkTaskBase):
        found.extend(spark.declared_problems(task.spark_resources))
    module, _, qualname = task.import_path().partition(":")
    # Both reach the pod's command line and the local target's shell: identifiers only.
    if (
        module == "__main__"
        or not isinstance(module, str)
        or not naming.PYTHON_PATH_RE.fullmatch(module)
        or not naming.PYTHON_PATH_RE.fullmatch(qualname)
    ):
        found.append(
            f"{task.__name__} is defined in {module}:{qualname}, which `processing-core run-task` "
            "cannot import in the task's container; define it at module level of a package module"
        )
    return found


def _secret_problems(secrets: object) -> list[str]:
    if not isinstance(secrets, Mapping):
        return ["secrets must be a mapping of env var name -> SecretRef(secret=..., key=...)"]
    found = []
    for variable, ref in secrets.items():
        if not isinstance(variable, str) or not naming.ENV_VAR_RE.fullmatch(variable):
            found.append(f"secrets: {variable!r} is not an environment variable name")
        elif variable in RESERVED_ENV_VARS:
            found.append(f"secrets: {variable!r} is set by processing-core; choose another name")
        if not isinstance(ref, SecretRef):
            found.append(
                f"secrets[{variable!r}] must be SecretRef(secret=..., key=...), a reference to a "
                "Kubernetes Secret, never the value itself"
            )
        else:
            found.extend(f"secrets[{variable!r}]: {p}" for p in ref.problems())
    return found


def _task_id_problems(task_id: object) -> list[str]:
    if not isinstance(task_id, str) or not naming.TASK_ID_RE.fullmatch(task_id):
        return [
            f"task id {task_id!r} is not valid: start with a letter and use only letters, "
            "digits and '_'"
        ]
    if len(task_id) > naming.AIRFLOW_ID_MAX:
        return [f"task id is {len(task_id)} characters; Airflow allows {naming.AIRFLOW_ID_MAX}"]
    pod_base = naming.dns_label(task_id)
    if len(pod_base) > naming.POD_NAME_BASE_MAX:
        return [
            f"task id gives the pod name {pod_base!r} ({len(pod_base)} characters); Kubernetes "
            f"allows {naming.POD_NAME_BASE_MAX} before the pod's random suffix: pass a shorter "
            "task_id"
        ]
    if len(naming.label_value(task_id)) > naming.K8S_LABEL_MAX:
        return [f"task id is longer than a Kubernetes label value ({naming.K8S_LABEL_MAX})"]
    return []


def _version_problems(workflow: Workflow, version: str) -> list[str]:
    tag = naming.image_tag(version) if isinstance(version, str) else ""
    if not naming.IMAGE_TAG_RE.fullmatch(tag) or len(tag) > naming.IMAGE_TAG_MAX:
        return [
            f"version {version!r} cannot be an image tag (letters, digits, '_', '.', '-', '+'; "
            f"at most {naming.IMAGE_TAG_MAX} characters); use a PEP 440 version such as '1.2.0'"
        ]
    found = []
    dag_id = workflow.dag_id(version)
    if not naming.DAG_ID_RE.fullmatch(dag_id) or len(dag_id) > naming.AIRFLOW_ID_MAX:
        found.append(
            f"dag_id {dag_id!r} is longer than Airflow's {naming.AIRFLOW_ID_MAX} characters; "
            "shorten the name parts or the version"
        )
    for label, value in (("workflow name", workflow.name), ("version", tag)):
        cleaned = naming.label_value(value)
        if len(cleaned) > naming.K8S_LABEL_MAX:
            found.append(
                f"the {label} {value!r} is {len(cleaned)} characters as a Kubernetes label "
                f"value; the limit is {naming.K8S_LABEL_MAX}: shorten it"
            )
    return found


def _cycle_problems(edges: Mapping[str, tuple[str, ...]]) -> list[str]:
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as error:
        cycle = error.args[1]
        # graphlib reports the cycle from a node back to itself, following upstream links;
        # read it in the direction data flows.
        path = " -> ".join(reversed(cycle))
        return [f"tasks form a cycle: {path}; remove one of these upstream links"]
    return []


def _schedule_problems(schedule: object, start_date: object) -> list[str]:
    if start_date is not None and not isinstance(start_date, datetime):
        return [f"start_date {start_date!r} must be a timezone-aware datetime"]
    if isinstance(start_date, datetime) and start_date.tzinfo is None:
        return ["start_date has no time zone; pass a timezone-aware datetime (tzinfo=UTC)"]
    if schedule is None:
        return []
    if isinstance(schedule, AssetsOrCron):
        found = condition_problems(schedule.assets, "schedule")
        if not isinstance(schedule.cron, str):
            return [*found, f"AssetsOrCron cron {schedule.cron!r} must be a cron expression"]
        return found + _schedule_problems(schedule.cron, start_date)
    if isinstance(schedule, Asset | AllOf | AnyOf):
        return condition_problems(schedule, "schedule")
    if isinstance(schedule, list | tuple | set) and any(isinstance(i, Asset) for i in schedule):
        return [
            f"schedule {schedule!r} mixes a list with assets; write a & b (all of them), a | b "
            "(any), or AssetsOrCron(cron, assets) to run on a clock and on data"
        ]
    if not isinstance(schedule, str):
        return [
            f"schedule {schedule!r} must be None, a cron expression, a preset like '@daily', "
            "an Asset (or a & or | of assets), or AssetsOrCron(cron, assets)"
        ]
    if schedule not in SCHEDULE_PRESETS:
        from croniter import croniter  # an Airflow dependency; only needed at build time

        if not croniter.is_valid(schedule):
            return [
                f"schedule {schedule!r} is neither a cron expression nor one of "
                f"{sorted(SCHEDULE_PRESETS)}"
            ]
    if schedule != "@once" and start_date is None:
        return [
            f"schedule {schedule!r} needs a start_date: pass start_date=datetime(..., tzinfo=UTC)"
        ]
    return []


def _not_a_task(task: object) -> str:
    """Why add_node cannot take `task`, with the fix (a dkist task names the import to fix)."""
    if isinstance(task, TaskBase):
        kind = "an instance"
    elif inspect.isclass(task) and any(
        base.__module__.partition(".")[0] == "dkist_processing_core" for base in task.__mro__
    ):
        return (
            f"{task.__name__} subclasses dkist_processing_core's TaskBase; import TaskBase from "
            "processing_core.compat.dkist instead (its API is dkist's)"
        )
    else:
        kind = f"{task!r}"
    return (
        f"add_node got {kind}, which is not a TaskBase subclass; pass the class itself, e.g. "
        "add_node(Calibrate, upstreams=Ingest)"
    )


def _template_field_problems(asset: Asset, parameters: Sequence[Parameter]) -> list[str]:
    """A URI template's fields must be run values or declared parameters, and unambiguous."""
    if asset.problems():
        return []  # reported with the task class
    names = {parameter.name for parameter in parameters if isinstance(parameter, Parameter)}
    found = []
    for name in asset.fields:
        if name in names and name in RUN_FIELDS:
            found.append(
                f"asset {asset.key!r}: placeholder {{{name}}} is both a parameter and the run's "
                f"{name}; rename the parameter"
            )
        elif name not in names and name not in RUN_FIELDS:
            found.append(
                f"asset {asset.key!r}: placeholder {{{name}}} is neither a parameter of the "
                f"workflow nor one of the run's values {sorted(RUN_FIELDS)}"
            )
    return found


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
