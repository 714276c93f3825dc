"""Operator arguments every node shares: retries, timeouts, docs, pool, the entrypoint call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from processing_core.config import ResourceProfileSettings
from processing_core.definition.task import TaskBase
from processing_core.definition.workflow import TaskNode
from processing_core.nodes.spec import Call


def timedelta_call(delta: timedelta) -> Call:
    return Call("datetime:timedelta", kwargs={"seconds": delta.total_seconds()})


def markdown(text: str) -> str:
    # Airflow treats a doc_md ending in ".md" as a path and reads that file at parse time;
    # a trailing newline keeps an author's text a text.
    return text + "\n" if text.rstrip().endswith(".md") else text


def base_operator_kwargs(node: TaskNode, profile: ResourceProfileSettings) -> dict[str, Any]:
    """BaseOperator arguments from what the task class declares."""
    task: type[TaskBase] = node.task_class
    kwargs: dict[str, Any] = {
        "task_id": node.task_id,
        "retries": task.retries,
        "retry_delay": timedelta_call(task.retry_delay),
    }
    backoff = task.retry_exponential_backoff
    if backoff:
        kwargs["retry_exponential_backoff"] = 2.0 if backoff is True else float(backoff)
    if task.max_retry_delay is not None:
        kwargs["max_retry_delay"] = timedelta_call(task.max_retry_delay)
    if task.execution_timeout is not None:
        kwargs["execution_timeout"] = timedelta_call(task.execution_timeout)
    if profile.pool:
        kwargs["pool"] = profile.pool
    documentation = task.documentation()
    if documentation:
        kwargs["doc_md"] = markdown(documentation)
    return kwargs


def run_task_arguments(
    node: TaskNode,
    *,
    workflow_name: str,
    version: str,
    dag_id: str,
    run_id: str,
    try_number: str,
    parameters: str,
    inputs: str | None,
    result_path: str,
) -> list[str]:
    """`processing-core run-task` arguments; the run's values are templates or shell variables."""
    # `--option=value` words: half the list items of separate words, and the scheduler
    # compiles every list item of every task each time it parses the file.
    arguments = [
        "run-task",
        node.task_class.import_path(),
        f"--workflow-name={workflow_name}",
        f"--workflow-version={version}",
        f"--dag-id={dag_id}",
        f"--task-id={node.task_id}",
        f"--run-id={run_id}",
        f"--try-number={try_number}",
        f"--parameters={parameters}",
    ]
    if inputs is not None:
        arguments.append(f"--inputs={inputs}")
    return [*arguments, f"--result-path={result_path}"]


def inputs_template(upstream_task_ids: tuple[str, ...]) -> str | None:
    """A Jinja template rendering `{"<upstream>": <its XCom result>, ...}` as JSON.

    Task ids are validated identifiers, so they are safe inside both JSON and Jinja.
    """
    if not upstream_task_ids:
        return None
    pairs = ", ".join(
        f"\"{task_id}\": {{{{ ti.xcom_pull(task_ids='{task_id}') | tojson }}}}"
        for task_id in upstream_task_ids
    )
    return "{" + pairs + "}"
