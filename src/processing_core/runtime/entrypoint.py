"""`processing-core run-task`: load a task class, run its lifecycle, leave its result."""

from __future__ import annotations

import importlib
import inspect
import json
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from loguru import logger
from opentelemetry.trace import Span

from processing_core.config import Settings, load_settings
from processing_core.definition.naming import PYTHON_PATH_RE
from processing_core.definition.task import RunContext, TaskBase
from processing_core.errors import TaskResolutionError
from processing_core.events.emit import EventEmitter, identity, traceback_tail
from processing_core.events.model import EventError, EventKind, StatusEvent
from processing_core.runtime.result import TaskResult, check_json, check_result, write_result
from processing_core.runtime.telemetry import Telemetry, trace_ids

EXIT_SUCCESS = 0
EXIT_FAILED = 1
EXIT_UNUSABLE_INPUT = 2
# 128 + SIGTERM, the shell's convention for "terminated by SIGTERM".
EXIT_TERMINATED = 128 + signal.SIGTERM


class TaskTerminated(BaseException):
    """SIGTERM arrived (pod eviction, Airflow killing the task); unwinds like a failure."""


def load_task_class(target: str) -> type[TaskBase]:
    """The TaskBase subclass `module:QualName` names; TaskResolutionError says what is wrong."""
    module_name, _, qualname = target.partition(":")
    if not (PYTHON_PATH_RE.fullmatch(module_name) and PYTHON_PATH_RE.fullmatch(qualname)):
        raise TaskResolutionError(f"task {target!r} is not of the form package.module:ClassName")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise TaskResolutionError(
            f"cannot import module {module_name!r} for task {target!r}: {error}; is the pipeline "
            "package installed in this image or environment?"
        ) from error
    for part in qualname.split("."):
        if not hasattr(value, part):
            raise TaskResolutionError(f"module {module_name!r} has no {qualname!r}")
        value = getattr(value, part)
    if not (inspect.isclass(value) and issubclass(value, TaskBase)) or inspect.isabstract(value):
        raise TaskResolutionError(f"{target!r} is not a concrete TaskBase subclass")
    return value


def parse_object(text: str | None, option: str) -> dict[str, Any]:
    """A JSON object given on the command line; TaskResolutionError names the option."""
    if text is None or text == "":
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise TaskResolutionError(f"{option} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise TaskResolutionError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def upstream_outputs(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Upstream task id -> its outputs, from what XCom holds for each upstream.

    The Kubernetes target's XCom holds the result document itself; the local target's holds
    it as the text of the last line the upstream printed.
    """
    inputs: dict[str, dict[str, Any]] = {}
    for task_id, value in raw.items():
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise TaskResolutionError(
                    f"the result of upstream task {task_id!r} is not JSON: {value[:200]!r}"
                ) from None
        if value is None:
            inputs[task_id] = {}
        elif isinstance(value, dict) and isinstance(value.get("outputs", {}), dict):
            inputs[task_id] = dict(value.get("outputs", {}))
        else:
            raise TaskResolutionError(
                f"the result of upstream task {task_id!r} is not a processing-core result"
            )
    return inputs


def run_task(
    task_class: type[TaskBase],
    context: RunContext,
    result_path: str | None,
    settings: Settings | None = None,
) -> int:
    """Run the task's lifecycle in its span; write its result; send its events; flush all.

    Returns the process exit code.
    """
    settings = settings or load_settings()
    telemetry = Telemetry(settings, context)
    events = EventEmitter(settings)
    # A file result is written as soon as it is known; a result on standard output is the
    # process's very last line (the BashOperator pushes the last line), after whatever the
    # event and telemetry shutdown log.
    file_path = None if result_path == "-" else result_path
    try:
        with telemetry.task_span() as span, logger.contextualize(**_log_identity(context)):
            code, result = _run_in_span(task_class, context, file_path, telemetry, span, events)
        telemetry.record_task(failed=code != EXIT_SUCCESS)
    finally:
        events.close()
        telemetry.shutdown()
    if result_path == "-":
        write_result(result, "-")
    return code


def _run_in_span(
    task_class: type[TaskBase],
    context: RunContext,
    result_path: str | None,
    telemetry: Telemetry,
    span: Span,
    events: EventEmitter,
) -> tuple[int, TaskResult]:
    about = {**identity(context), "trace_id": trace_ids()[0]}
    events.emit(StatusEvent(kind=EventKind.TASK_STARTED, source="task", **about))
    task = task_class(context)
    task.telemetry = telemetry
    logger.info("Task {} starting ({})", context.task_id, task_class.import_path())
    try:
        with _sigterm_raises(), task:
            task()
            check_result(task.outputs, task.metrics, task_class.__name__)
    except TaskTerminated as stop:
        logger.error("Task {} terminated by SIGTERM; rolled back", context.task_id)
        telemetry.fail(span, stop)
        result = TaskResult("terminated", "terminated by SIGTERM", task.outputs, task.metrics)
        error = EventError(type="Terminated", message=result.message)
        final = StatusEvent(kind=EventKind.TASK_FAILED, source="task", error=error, **about)
        code = EXIT_TERMINATED
    except Exception as exception:
        message = f"{type(exception).__name__}: {exception}"
        logger.error(
            "Task {} failed and was rolled back: {}\n{}",
            context.task_id,
            message,
            traceback_tail(exception, characters=100_000),
        )
        telemetry.fail(span, exception)
        result = TaskResult(
            "failed", message, _json_or_empty(task.outputs), _json_or_empty(task.metrics)
        )
        error = EventError(
            type=type(exception).__name__,
            message=str(exception),
            traceback_tail=traceback_tail(exception),
        )
        final = StatusEvent(kind=EventKind.TASK_FAILED, source="task", error=error, **about)
        code = EXIT_FAILED
    else:
        logger.info("Task {} succeeded", context.task_id)
        result = TaskResult("success", "", task.outputs, task.metrics)
        final = StatusEvent(
            kind=EventKind.TASK_SUCCEEDED,
            source="task",
            outputs=dict(result.outputs),
            metrics=dict(result.metrics),
            **about,
        )
        code = EXIT_SUCCESS
    write_result(result, result_path)
    events.emit(final)
    return code, result


def _log_identity(context: RunContext) -> dict[str, Any]:
    return {
        "workflow": context.workflow_name,
        "version": context.workflow_version,
        "run_id": context.run_id,
        "task_id": context.task_id,
        "try_number": context.try_number,
    }


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        # One termination is enough: a second SIGTERM must not interrupt the rollback.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise TaskTerminated()

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _json_or_empty(value: object) -> Mapping[str, Any]:
    try:
        check_json(value, "value")
    except TypeError:
        return {}
    return value  # type: ignore[return-value]
