"""What `add_node` and export check of a workflow's parts, each problem naming the fix: task
classes and their declarations, task ids, versions, the graph, schedules, asset templates.
The Workflow (definition/workflow.py) prefixes them with its name and the task's."""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from graphlib import CycleError, TopologicalSorter

from processing_core.definition import naming, spark
from processing_core.definition.assets import (
    RUN_FIELDS,
    AllOf,
    AnyOf,
    Asset,
    AssetsOrCron,
    condition_problems,
    declared_assets_problems,
)
from processing_core.definition.parameters import Parameter
from processing_core.definition.resources import Resources, SecretRef
from processing_core.definition.spark_task import SparkTaskBase
from processing_core.definition.task import TaskBase
from processing_core.definition.volumes import declared_volumes_problems

SCHEDULE_PRESETS = frozenset(
    {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}
)
AIRFLOW_TAG_MAX = 100
# Variables the library sets in every task container; a secret must not shadow them.
RESERVED_ENV_VARS = frozenset({"POD_NAME", "POD_NAMESPACE"})


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
        ("startup_timeout", True),
    ):
        value = getattr(task, attribute)
        if value is None and optional:
            continue
        if not isinstance(value, timedelta) or value.total_seconds() < 0:
            found.append(
                f"{attribute} is {value!r}; declare a non-negative datetime.timedelta"
                + (" or None" if optional else "")
            )
        elif attribute in ("execution_timeout", "startup_timeout") and value.total_seconds() == 0:
            found.append(f"{attribute} is zero; declare a positive timedelta or None")
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
    found.extend(secret_problems(task.secrets))
    found.extend(declared_volumes_problems(task.volumes, "volumes"))
    found.extend(declared_assets_problems(task.produces, "produces"))
    outputs = task.declared_outputs
    if isinstance(outputs, str) or not isinstance(outputs, list | tuple):
        found.append(
            f"declared_outputs is {outputs!r}; declare a tuple of output names, e.g. "
            "declared_outputs = ('frames',)"
        )
    else:
        found.extend(
            f"declared_outputs holds {name!r}; an output name is letters, digits and '_'"
            for name in outputs
            if not isinstance(name, str) or not naming.OUTPUT_NAME_RE.fullmatch(name)
        )
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


def secret_problems(secrets: object) -> list[str]:
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


def task_id_problems(task_id: object) -> list[str]:
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


def version_problems(name: str, dag_id: str, version: str) -> list[str]:
    """The version as an image tag, the dag_id and both as Kubernetes label values."""
    tag = naming.image_tag(version) if isinstance(version, str) else ""
    if not naming.IMAGE_TAG_RE.fullmatch(tag) or len(tag) > naming.IMAGE_TAG_MAX:
        return [
            f"version {version!r} cannot be an image tag (letters, digits, '_', '.', '-', '+'; "
            f"at most {naming.IMAGE_TAG_MAX} characters); use a PEP 440 version such as '1.2.0'"
        ]
    found = []
    if not naming.DAG_ID_RE.fullmatch(dag_id) or len(dag_id) > naming.AIRFLOW_ID_MAX:
        found.append(
            f"dag_id {dag_id!r} is longer than Airflow's {naming.AIRFLOW_ID_MAX} characters; "
            "shorten the name parts or the version"
        )
    for label, value in (("workflow name", name), ("version", tag)):
        cleaned = naming.label_value(value)
        if len(cleaned) > naming.K8S_LABEL_MAX:
            found.append(
                f"the {label} {value!r} is {len(cleaned)} characters as a Kubernetes label "
                f"value; the limit is {naming.K8S_LABEL_MAX}: shorten it"
            )
    return found


def cycle_problems(edges: Mapping[str, tuple[str, ...]]) -> list[str]:
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as error:
        cycle = error.args[1]
        # graphlib reports the cycle from a node back to itself, following upstream links;
        # read it in the direction data flows.
        path = " -> ".join(reversed(cycle))
        return [f"tasks form a cycle: {path}; remove one of these upstream links"]
    return []


def schedule_problems(schedule: object, start_date: object) -> list[str]:
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
        return found + schedule_problems(schedule.cron, start_date)
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


def not_a_task(task: object) -> str:
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


def template_field_problems(asset: Asset, parameters: Sequence[Parameter]) -> list[str]:
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
