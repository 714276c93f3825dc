"""Airflow's side of run values too large for one argument (processing_core.run_values).

Called by the generated tasks' `pre_execute` (airflow_callbacks.RunValuesHook), after
Airflow rendered the templates and before the pod, SparkApplication or process starts: each
`run-task` value over the limit of one argument (a 200 KiB parameter; the results of several
upstreams) moves into numbered environment variables of the same container, and its option
becomes the `@env:` reference `run-task` joins them from. A task whose values together are
more than a pod or a process can be given fails at once (no retry helps), saying which.
"""

from __future__ import annotations

from typing import Any

from processing_core.run_values import (
    RunValueError,
    check_total,
    move_large_arguments,
    move_large_variables,
)

# The local target's environment variables for run-task's options (nodes/local.py).
_LOCAL_PREFIX = "PROCESSING_CORE_"


def fit_run_values(task: Any) -> None:
    """Rewrite the rendered operator `task` so its run values reach `run-task` whatever their
    size; AirflowFailException when they cannot."""
    try:
        if hasattr(task, "template_spec"):  # SparkKubernetesOperator: the driver runs run-task
            _spark_application(task)
        elif hasattr(task, "bash_command"):  # the local target
            _bash(task)
        elif hasattr(task, "application_args"):  # SparkSubmitTask (local target, Spark)
            _spark_submit(task)
        elif hasattr(task, "arguments") and hasattr(task, "env_vars"):  # KubernetesPodOperator
            _pod(task)
    except RunValueError as error:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(error)) from None


def _pod(task: Any) -> None:
    from kubernetes.client.models import V1EnvVar

    arguments, moved = move_large_arguments(list(task.arguments or []))
    environment = list(task.env_vars or [])
    environment += [V1EnvVar(name=name, value=value) for name, value in moved.items()]
    check_total(
        [*arguments, *(getattr(variable, "value", None) or "" for variable in environment)],
        f"task {task.task_id}",
    )
    task.arguments, task.env_vars = arguments, environment


def _spark_application(task: Any) -> None:
    spec = (task.template_spec or {}).get("spark", {}).get("spec", {})
    if not isinstance(spec.get("arguments"), list):
        return
    arguments, moved = move_large_arguments(spec["arguments"])
    driver = spec.setdefault("driver", {})
    environment = [*driver.get("env", []), *({"name": k, "value": v} for k, v in moved.items())]
    check_total(
        [*arguments, *(str(variable.get("value") or "") for variable in environment)],
        f"task {task.task_id} (its SparkApplication's driver)",
    )
    spec["arguments"], driver["env"] = arguments, environment


def _bash(task: Any) -> None:
    environment = dict(task.env or {})
    options = {
        name: name.removeprefix(_LOCAL_PREFIX).lower().replace("_", "-")
        for name in environment
        if name.startswith(_LOCAL_PREFIX)
    }
    environment = move_large_variables(environment, options)
    check_total(list(environment.values()), f"task {task.task_id}")
    task.env = environment


def _spark_submit(task: Any) -> None:
    arguments, moved = move_large_arguments(list(task.application_args or []))
    environment = {**(task.env_vars or {}), **moved}
    check_total([*arguments, *environment.values()], f"task {task.task_id}")
    task.application_args, task.env_vars = arguments, environment
