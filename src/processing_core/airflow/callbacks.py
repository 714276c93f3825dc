"""What generated DAG files call, in Airflow's processes: status-event callbacks, the hooks
around a task (run values of any size before it, its result, skip and asset events after),
the template filter that hands a task its run's asset events, and the RabbitMQ trigger.

DAG files name these through `processing_core.airflow_callbacks`, a stable alias of this
module (see `processing_core/airflow/__init__.py`).

They report what the task's own entrypoint cannot: failures it never reached (the pod was
OOMKilled, its image could not be pulled, it was evicted or timed out) and Airflow's decision
to retry. Importing this module imports only the standard library; the event machinery
(pydantic, pika) is imported when a callback runs, in the worker, not when the scheduler
parses the DAG file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from processing_core.airflow.callback_support import import_target, publish_event

# The AsyncCallback of a workflow's deadlines, beside the other callbacks DAG files name.
from processing_core.airflow.deadlines import run_late as run_late

_log = logging.getLogger(__name__)

# Reasons Kubernetes gives for a container or pod that did not finish on its own.
_KNOWN_REASONS = (
    "OOMKilled", "Evicted", "DeadlineExceeded", "ImagePullBackOff", "ErrImagePull",
    "InvalidImageName", "CreateContainerConfigError", "CreateContainerError",
    "ContainerCannotRun", "Preempting", "NodeLost", "Shutdown", "PodDeleted",
)  # fmt: skip
_REASON_IN_TEXT = re.compile(r"\b(" + "|".join(_KNOWN_REASONS) + r")\b")


class StatusCallback:
    """`on_failure_callback` / `on_retry_callback` of a generated task.

    An object rather than a function so that each DAG file names its workflow and version
    once, as plain literals.
    """

    def __init__(self, kind: str, workflow_name: str, workflow_version: str) -> None:
        self.kind = kind
        self.workflow_name = workflow_name
        self.workflow_version = workflow_version

    def __repr__(self) -> str:
        return f"StatusCallback({self.kind!r}, {self.workflow_name!r}, {self.workflow_version!r})"

    def __call__(self, context: Mapping[str, Any]) -> None:
        if self.kind in ("task.failed", "task.retrying"):
            stop_pod_left_running(context)
        try:
            self._publish(context)
        except Exception:  # a callback must never turn into the task's problem
            _log.exception("processing-core could not publish the %s event", self.kind)

    def _publish(self, context: Mapping[str, Any]) -> None:
        publish_event(lambda: self._event(context))

    def _event(self, context: Mapping[str, Any]) -> Any:
        from processing_core.events.model import EventError, EventKind, StatusEvent

        exception = context.get("exception")
        reason = termination_reason(context.get("task"), exception)
        error = None
        if exception is not None or reason is not None:
            error = EventError(
                type=reason or type(exception).__name__,
                message=error_message(exception) if exception is not None else reason or "",
            )
        elif self.kind == EventKind.RUN_FAILED:
            # A DAG run's failure callback says why in `reason` (e.g. "task_failure"); the
            # tasks that failed say where.
            reason = context.get("reason") if isinstance(context.get("reason"), str) else None
            failed = failed_tasks(context)
            named = ", ".join(f"{t} (try {n})" if n else t for t, n in failed)
            message = "; ".join(filter(None, [reason, f"failed: {named}" if named else None]))
            error = EventError(type="RunFailed", message=message or "the run failed")
        if self.kind.startswith("run."):
            # A DAG run's callback; its context may also carry the task instance that failed.
            dag_run = context["dag_run"]
            where: dict[str, Any] = {"dag_id": dag_run.dag_id, "run_id": dag_run.run_id}
        else:
            ti = context["ti"]
            where = {
                "dag_id": ti.dag_id,
                "run_id": ti.run_id,
                "task_id": ti.task_id,
                "try_number": ti.try_number,
                "log_url": _log_url(ti),
            }
            if isinstance(getattr(ti, "map_index", None), int) and ti.map_index >= 0:
                where["map_index"] = ti.map_index
        return StatusEvent(
            kind=EventKind(self.kind),
            source="airflow",
            workflow_name=self.workflow_name,
            workflow_version=self.workflow_version,
            error=error,
            **where,
        )


def failed_tasks(context: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(task id, try number) of the run's failed tasks, as far as the callback can tell: all
    of them when Airflow answers the question, else the task instance the context names."""
    ti = context.get("ti")
    dag_run = context.get("dag_run")
    states: dict[str, Any] = {}
    try:
        found = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id])  # type: ignore[union-attr]
        states = dict(found.get(dag_run.run_id, {}))  # type: ignore[union-attr]
    except Exception:  # not every context can ask Airflow (an old or in-process one)
        states = {}
    failed = sorted(task_id for task_id, state in states.items() if str(state) == "failed")
    relevant = getattr(ti, "task_id", None)
    tries = {relevant: int(getattr(ti, "try_number", 0) or 0)} if relevant else {}
    if not failed and relevant and getattr(ti, "state", None) in (None, "failed"):
        failed = [relevant]
    return [(task_id, tries.get(task_id, 0)) for task_id in failed]


class ResultHook:
    """`post_execute` of a generated task: the task's result document is its XCom on every
    target (the local target's command prints it as text: it is pushed as the object), and a
    result that says `skipped` (the task's complete() found its work done) becomes Airflow's
    skipped state, the result still its XCom, so downstream tasks (trigger rule none_failed)
    run with the outputs it recorded. After a success, the events Airflow records for the
    assets the task produces carry the extra the task reported (airflow_assets)."""

    def __init__(
        self,
        assets: Sequence[Mapping[str, Any]] = (),
        workflow_name: str = "",
        workflow_version: str = "",
    ) -> None:
        self.assets = tuple(assets)
        self.workflow_name = workflow_name
        self.workflow_version = workflow_version

    def __repr__(self) -> str:
        return f"ResultHook(assets={list(self.assets)!r})" if self.assets else "ResultHook()"

    def __call__(self, context: Mapping[str, Any], result: Any) -> None:
        document = result
        if isinstance(result, str):  # the local target: the result line's text
            import json

            try:
                document = json.loads(result)
            except ValueError:
                return
        if not isinstance(document, dict) or "status" not in document:
            return
        task = context.get("task")
        skipped = document.get("status") == "skipped"
        # Airflow pushes the return value itself only when the operator pushes, and never for
        # a skipped task.
        if skipped or not getattr(task, "do_xcom_push", True):
            context["ti"].xcom_push(key="return_value", value=document)
        if skipped:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(str(document.get("message") or "work already complete"))
        if self.assets and document.get("status") == "success":
            from processing_core.airflow.assets import record_asset_events

            record_asset_events(
                context, document, self.assets, self.workflow_name, self.workflow_version
            )


class RunValuesHook:
    """`pre_execute` of a generated task: run values too large for one argument (a 200 KiB
    parameter, the results of several upstreams) reach `run-task` through numbered
    environment variables; values no pod or process can be given fail the task at once,
    saying so (processing_core.airflow.large_values)."""

    def __repr__(self) -> str:
        return "RunValuesHook()"

    def __call__(self, context: Mapping[str, Any]) -> None:
        from processing_core.airflow.large_values import fit_run_values

        ti = context.get("ti")
        fit_run_values(getattr(ti, "task", None) or context.get("task"))


def termination_reason(task: Any, exception: BaseException | None) -> str | None:
    """Why Kubernetes stopped the task's pod, where Airflow knows it.

    From the pod the operator last saw (container and pod status), else from the text of the
    operator's error, else from a timeout; None when nothing says.
    """
    for pod in (getattr(task, "remote_pod", None), getattr(task, "pod", None)):
        reason = _pod_reason(pod)
        if reason:
            return reason
    if exception is not None:
        found = _REASON_IN_TEXT.search(str(exception))
        if found:
            return found.group(1)
        if _timed_out(exception):
            return "Timeout"
        # The pod went away while the operator followed it: the kubernetes client's 404
        # (ApiException, or its NotFoundException, whichever call met it first).
        if any(_is_not_found(error) for error in _chain(exception)):
            return "PodDeleted"
    return None


def stop_pod_left_running(context: Mapping[str, Any]) -> None:
    """Delete the pod (or SparkApplication) of a task that timed out, which would run on.

    On a timeout, KubernetesPodOperator's cleanup raises "Pod ... returned a failure" while
    the timeout unwinds, so the task runner's `except AirflowTaskTimeout: task.on_kill()`
    never sees the timeout and the pod keeps running with nobody watching it (seen with
    cncf-kubernetes 10.25 in tests/test_kubernetes_e2e.py). The operator's own `on_kill`
    deletes it, with the task's grace period; it does nothing once the task was killed.
    """
    task, exception = context.get("task"), context.get("exception")
    if task is None or exception is None or getattr(task, "_killed", False):
        return
    if getattr(task, "pod", None) is None:  # not a pod task, or its pod was never made
        return
    if not _timed_out(exception):
        return
    try:
        _log.info(
            "processing-core: the task timed out; deleting its pod %s", task.pod.metadata.name
        )
        task.on_kill()
    except Exception:  # the event must still be published
        _log.exception("processing-core could not delete the pod of a task that timed out")


def _timed_out(exception: BaseException) -> bool:
    # KubernetesPodOperator's cleanup raises "Pod ... returned a failure" while the timeout
    # unwinds: the timeout is in the chain, and it is what happened.
    return any(type(error).__name__ == "AirflowTaskTimeout" for error in _chain(exception))


def _is_not_found(error: BaseException) -> bool:
    return type(error).__module__.startswith("kubernetes.") and getattr(error, "status", 0) == 404


def _chain(exception: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or while handling, nearest first."""
    chain: list[BaseException] = []
    current: BaseException | None = exception
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _pod_reason(pod: Any) -> str | None:
    status = getattr(pod, "status", None)
    if status is None:
        return None
    for container in getattr(status, "container_statuses", None) or []:
        state = getattr(container, "state", None)
        terminated = getattr(state, "terminated", None)
        # "Error" only says the process exited non-zero: the task reported that itself.
        if terminated is not None and terminated.reason not in (None, "Completed", "Error"):
            return str(terminated.reason)
        waiting = getattr(state, "waiting", None)
        if waiting is not None and waiting.reason in _KNOWN_REASONS:
            return str(waiting.reason)
    reason = getattr(status, "reason", None)
    if reason:
        return str(reason)
    # Deleted under its task (kubectl delete, a controller): Kubernetes gives no reason.
    if getattr(getattr(pod, "metadata", None), "deletion_timestamp", None) is not None:
        return "PodDeleted"
    return None


def error_message(exception: BaseException) -> str:
    """The exception's text for an event: KubernetesPodOperator's "Pod ... returned a
    failure." without the whole pod it appends (kilobytes of spec and status)."""
    return str(exception).split("\nremote_pod:", 1)[0]


def _log_url(ti: Any) -> str | None:
    try:
        url = ti.log_url
    except Exception:  # needs the webserver's configuration; absent in some contexts
        return None
    return str(url) if url else None


def __getattr__(name: str) -> Any:
    # Imported on first use: it needs the Kubernetes provider, which only pod DAGs import.
    if name == "PodIdentityGuard":
        from processing_core.airflow.pods import PodIdentityGuard

        return PodIdentityGuard
    if name == "ForeachItems":  # the list task of a mapped node (airflow/foreach.py)
        from processing_core.airflow.foreach import ForeachItems

        return ForeachItems
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def asset_template_filters() -> dict[str, Any]:
    """The DAG's Jinja filters for an asset-scheduled workflow (see airflow/assets.py)."""
    from processing_core.airflow.assets import template_filters

    return template_filters()


def template_filters() -> dict[str, Any]:
    """The DAG's Jinja filters when it has a mapped node: instance names, and the assets'."""
    from processing_core.airflow.foreach import template_filters as all_filters

    return all_filters()


def rabbitmq_trigger(**kwargs: Any) -> Any:
    """The asset watcher's trigger of `Workflow(triggered_by=RabbitMQMessages(...))`."""
    from processing_core.airflow.triggers import RabbitMQMessageTrigger

    return RabbitMQMessageTrigger(**kwargs)


class ImportedCallback:
    """A team's own failure callback (FAILURE_CALLBACK, `package.module:function`), imported
    when a task fails (so parsing the DAG file never imports it) and called with Airflow's
    context. Its failure is logged in one line and never hides processing-core's event."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __repr__(self) -> str:
        return f"ImportedCallback({self.target!r})"

    def __call__(self, context: Mapping[str, Any]) -> None:
        try:
            import_target(self.target)(context)
        except Exception as error:
            logging.getLogger(__name__).error(
                "Failure callback %s failed: %s: %s", self.target, type(error).__name__, error
            )
