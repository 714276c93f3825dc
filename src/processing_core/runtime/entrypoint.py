"""`processing-core run-task`: load a task class, run its lifecycle, leave its result.

One exit path for every outcome: whatever the task does (returns, raises, calls `sys.exit`,
is interrupted, fails in `__init__`, `rollback()` or `close()`), the run writes a result,
sends its final event, flushes its telemetry and exits with a documented code:

    0 success; 1 the task failed (or its result could not be written); 2 the task or its
    inputs could not be loaded; 130 interrupted (SIGINT); 143 terminated (SIGTERM).

Never 0 after a rollback. Every text that leaves the run is masked (`processing_core.masking`).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loguru import logger

from processing_core.definition.naming import PYTHON_PATH_RE
from processing_core.definition.task import RunContext, TaskBase
from processing_core.errors import TaskResolutionError
from processing_core.events.emit import EventEmitter, emitter_for, identity, traceback_tail

if TYPE_CHECKING:
    from processing_core.definition.parameters import Parameter
    from processing_core.events.model import StatusEvent
from processing_core.runtime.lineage import TaskLineage, lineage_for
from processing_core.runtime.result import ResultChannel, TaskResult, check_json, check_result
from processing_core.runtime.run_telemetry import telemetry_for
from processing_core.runtime.telemetry import Telemetry, trace_ids
from processing_core.runtime.termination import TaskTerminated, Termination

EXIT_SUCCESS = 0
EXIT_FAILED = 1
EXIT_UNUSABLE_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

# Loads the task class and completes the run's context (parameters, inputs); raises
# TaskResolutionError when it cannot.
Resolver = Callable[[], tuple[type[TaskBase], RunContext]]


def load_task_class(target: str, produces: str = "") -> type[TaskBase]:
    """The TaskBase subclass `module:QualName` names (with the assets `produces` lists, a
    JSON list, when the node's differ from the class's); TaskResolutionError says what is
    wrong."""
    task = _import_task_class(target)
    if not produces:
        return task
    from processing_core.definition.assets import Asset

    listed = _parse_json(produces, "--produces")
    try:
        assets = tuple(
            Asset(item["uri"], item["name"], item.get("group", "asset")) for item in listed
        )
    except (TypeError, KeyError):
        raise TaskResolutionError(
            "--produces must be a JSON list of {name, uri, group} objects"
        ) from None
    from processing_core.definition.node import with_overrides

    return with_overrides(task, {"produces": assets})  # as TaskNode.declared does


def _import_task_class(target: str) -> type[TaskBase]:
    module_name, _, qualname = target.partition(":")
    if not (PYTHON_PATH_RE.fullmatch(module_name) and PYTHON_PATH_RE.fullmatch(qualname)):
        raise TaskResolutionError(f"task {target!r} is not of the form package.module:ClassName")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise TaskResolutionError(
            f"cannot import module {module_name!r} for task {target!r}: {error}; is the pipeline "
            "package installed in this image or environment?"
        ) from error
    except Exception as error:
        raise TaskResolutionError(
            f"importing module {module_name!r} for task {target!r} failed: "
            f"{type(error).__name__}: {error}"
        ) from error
    module = value
    for part in qualname.split("."):
        if not hasattr(value, part):
            raise TaskResolutionError(
                f"module {module_name!r} has no {qualname!r}{_task_classes_hint(module, part)}"
            )
        value = getattr(value, part)
    if not (inspect.isclass(value) and issubclass(value, TaskBase)) or inspect.isabstract(value):
        raise TaskResolutionError(f"{target!r} is not a concrete TaskBase subclass")
    return value


def warn_of_missing_secrets(task_class: type[TaskBase], task_id: str) -> None:
    """Log, naming only variables, the secrets a task declares that this environment lacks:
    in a pod Kubernetes sets them (or the pod does not start); a local run may forget."""
    missing = [variable for variable in task_class.secrets if variable not in os.environ]
    if missing:
        logger.warning(
            "Task {} declares secret variable(s) {}, which this environment does not set: it "
            "runs without them (set them to run it as in production)",
            task_id,
            missing,
        )


def _task_classes_hint(module: Any, wanted: str) -> str:
    """`; did you mean 'Extract'? Its task classes: [...]`: the concrete TaskBase subclasses
    the module defines, the closest name first (a typo in a DAG file or a command line)."""
    import difflib

    names = sorted(
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, TaskBase)
        and not inspect.isabstract(value)
        and value.__module__ == module.__name__
    )
    if not names:
        return "; it defines no TaskBase subclass"
    close = difflib.get_close_matches(wanted, names, n=1)
    guess = f"; did you mean {close[0]!r}?" if close else ";"
    shown = names[:20] + ([f"... {len(names) - 20} more"] if len(names) > 20 else [])
    return f"{guess} its task classes: {shown}"


def _parse_json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise TaskResolutionError(f"{option} is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise TaskResolutionError(f"{option} is not JSON: {error}") from None


def parse_object(text: str | None, option: str) -> dict[str, Any]:
    """A JSON object given on the command line (null and empty: {}); TaskResolutionError
    names the option."""
    value = _parse_json(text, option) if text else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TaskResolutionError(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def upstream_outputs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Upstream task id -> its outputs, from what XCom holds for each upstream; a mapped
    upstream (add_node(foreach=...)) gives a list: its instances' outputs in map order.

    The Kubernetes target's XCom holds the result document itself; the local target's holds
    it as the text of the last line the upstream printed.
    """
    inputs: dict[str, Any] = {}
    for task_id, value in raw.items():
        if isinstance(value, list):
            inputs[task_id] = [_outputs_of(task_id, result) for result in value]
        else:
            inputs[task_id] = _outputs_of(task_id, value)
    return inputs


def _outputs_of(task_id: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            raise TaskResolutionError(
                f"the result of upstream task {task_id!r} is not JSON: {value[:200]!r}"
            ) from None
    if value is None:
        return {}
    if isinstance(value, dict) and isinstance(value.get("outputs", {}), dict):
        return dict(value.get("outputs", {}))
    raise TaskResolutionError(
        f"the result of upstream task {task_id!r} is not a processing-core result"
    )


@dataclass
class Outcome:
    """How a run ended: its result, exit code, and the error behind a failure."""

    status: str
    code: int
    message: str = ""
    error: BaseException | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    asset_extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def result(self) -> TaskResult:
        return TaskResult(self.status, self.message, self.outputs, self.metrics, self.asset_extra)  # type: ignore[arg-type]


def run_task(task_class: type[TaskBase], context: RunContext, result_path: str | None) -> int:
    """Run a loaded task class; returns the process exit code (see the module's docstring)."""
    return run(lambda: (task_class, context), context, result_path)


def run(
    resolve: Resolver,
    context: RunContext,
    result_path: str | None,
    *,
    telemetry: Telemetry | None = None,
    events: EventEmitter | None = None,
    lineage: TaskLineage | None = None,
    force: bool = False,
) -> int:
    """Resolve the task, run its lifecycle in its span, leave its result and final event.

    `context` names the run (its parameters and inputs may still be missing: `resolve`
    completes them). `force`: run even when the task's complete() says its work is done.
    `telemetry`, `events` and `lineage` default to what the environment configures. A
    result path no result can reach raises ResultPathError, and a bad telemetry, event or
    lineage setting SettingsError, before anything runs.
    """
    telemetry = telemetry or telemetry_for(context)
    events = events or emitter_for()
    lineage = lineage or lineage_for(context)
    channel = ResultChannel(result_path)
    try:
        with (
            Termination() as termination,
            logger.contextualize(**_log_identity(context)),
            telemetry.task_span() as span,
        ):
            about = {**identity(context), "trace_id": trace_ids()[0]}
            try:
                with termination.raising():
                    termination.check()
                    if events.enabled:
                        events.emit(_started_event(about))
                    task_class, context = resolve()
                    lineage.start(context, task_class.produces)
                    outcome = _lifecycle(task_class, context, telemetry, termination, force)
            except TaskTerminated as stop:  # before the task's own code ran
                outcome = _terminated(stop, None)
            except TaskResolutionError as error:
                logger.error("Task {} cannot run: {}", context.task_id, error)
                outcome = Outcome("failed", EXIT_UNUSABLE_INPUT, str(error), error)
            if outcome.error is not None:
                telemetry.fail(span, outcome.error)
            if not channel.on_stdout:
                outcome = _write(channel, outcome)
            try:
                with termination.raising():  # a signal may cut a wait on a stalled broker
                    if events.enabled:
                        events.emit(_final_event(outcome, about))
            except TaskTerminated:
                logger.warning("Final event of task {} kept in the outbox", context.task_id)
            lineage.finish(outcome.status, outcome.error)
        telemetry.record_task(failed=outcome.code != EXIT_SUCCESS)
    finally:
        events.close()
        telemetry.shutdown()
    if channel.on_stdout:
        # The very last line on standard output, after what shutting down may print.
        outcome = _write(channel, outcome)
    channel.close()
    return outcome.code


def _lifecycle(
    task_class: type[TaskBase],
    context: RunContext,
    telemetry: Telemetry,
    termination: Termination,
    force: bool = False,
) -> Outcome:
    name = task_class.__name__
    try:
        task = task_class.for_run(context, telemetry)
    except (Exception, SystemExit) as error:
        return _failed(error, None, f"{name}.__init__ failed: {type(error).__name__}: {error}")
    termination.defer_while(lambda: task.rolling_back)
    logger.info("Task {} starting ({})", context.task_id, task_class.import_path())
    skipped = False
    try:
        with task:
            skipped = not force and task.work_is_complete()
            if force:
                logger.info("Task {}: complete() not asked (--force)", context.task_id)
            if not skipped:
                task()
            produced = [asset.key for asset in task_class.produces]
            check_result(task.outputs, task.metrics, name, task.asset_extra, produced)
    except TaskTerminated as stop:
        return _terminated(stop, task)
    except KeyboardInterrupt as stop:  # raised by the task itself
        return _terminated(TaskTerminated(signal.SIGINT), task, stop)
    except SystemExit as stop:
        # sys.exit() in a task is not how it ends: 0 would tell Airflow it succeeded after a
        # rollback, and other codes mean skip or fail by the BashOperator's reading.
        message = (
            f"{name} called sys.exit({stop.code!r}); a task ends by returning from run(), "
            "or fails by raising an exception"
        )
        return _failed(stop, task, message)
    except Exception as error:
        return _failed(error, task)
    message = task.message if isinstance(task.message, str) else str(task.message)
    if skipped:
        logger.info("Task {} skipped: complete() found its work done", context.task_id)
        message = message or "skipped: complete() found the work already done"
        # Exit code 0: the operator returns the result, and Airflow marks the task skipped
        # (airflow_callbacks.ResultHook) with this result as its XCom.
        return Outcome("skipped", EXIT_SUCCESS, message, None, task.outputs, task.metrics)
    logger.info("Task {} succeeded", context.task_id)
    return Outcome(
        "success", EXIT_SUCCESS, message, None, task.outputs, task.metrics, task.asset_extra
    )


def _failed(error: BaseException, task: TaskBase | None, message: str | None = None) -> Outcome:
    message = message or f"{type(error).__name__}: {error}"
    if task is not None and task.rollback_error is not None:
        failure = task.rollback_error
        message += f" (rollback() also failed: {type(failure).__name__}: {failure})"
    done = _what_was_undone(task)
    logger.opt(exception=error).error("Task failed{}: {}", done, message)
    return Outcome(
        "failed",
        EXIT_FAILED,
        message,
        error,
        _json_or_empty(task.outputs if task else {}),
        _json_or_empty(task.metrics if task else {}),
    )


def _terminated(
    stop: TaskTerminated, task: TaskBase | None, error: BaseException | None = None
) -> Outcome:
    message = str(stop)
    logger.error("Task {}{}", message, _what_was_undone(task))
    code = EXIT_INTERRUPTED if stop.exit_code == EXIT_INTERRUPTED else EXIT_TERMINATED
    return Outcome(
        "terminated",
        code,
        message,
        error or stop,
        _json_or_empty(task.outputs if task else {}),
        _json_or_empty(task.metrics if task else {}),
    )


def _what_was_undone(task: TaskBase | None) -> str:
    if task is None:
        return " before the task started; nothing to roll back"
    if task.rolled_back:
        return "; rolled back" + (" (rollback() failed too)" if task.rollback_error else "")
    return "; nothing was rolled back"


def _write(channel: ResultChannel, outcome: Outcome) -> Outcome:
    """Write the result; a result that cannot be written turns the run into a failure."""
    try:
        channel.write(outcome.result)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        message = f"the result could not be written to {channel.destination}: {reason}"
        logger.error("Task {}; exit code {}", message, EXIT_FAILED)
        code = outcome.code if outcome.code != EXIT_SUCCESS else EXIT_FAILED
        return Outcome("failed", code, message, error)
    return outcome


def _started_event(about: Mapping[str, Any]) -> StatusEvent:
    from processing_core.events.model import EventKind, StatusEvent

    return StatusEvent(kind=EventKind.TASK_STARTED, source="task", **about)


def _final_event(outcome: Outcome, about: Mapping[str, Any]) -> StatusEvent:
    # The event model (pydantic) is imported only by runs that send events.
    from processing_core.events.model import EventError, EventKind, StatusEvent

    if outcome.status in ("success", "skipped"):
        skipped = outcome.status == "skipped"
        return StatusEvent(
            kind=EventKind.TASK_SKIPPED if skipped else EventKind.TASK_SUCCEEDED,
            source="task",
            outputs=dict(outcome.outputs),
            metrics=dict(outcome.metrics),
            **about,
        )
    error = outcome.error
    kind = "Terminated" if outcome.status == "terminated" else type(error).__name__
    return StatusEvent(
        kind=EventKind.TASK_FAILED,
        source="task",
        error=EventError(
            type=kind,
            # The type is a field of its own; the message says the rest.
            message=outcome.message.removeprefix(f"{kind}: "),
            traceback_tail=traceback_tail(error) if outcome.status == "failed" and error else None,
        ),
        **about,
    )


def _log_identity(context: RunContext) -> dict[str, Any]:
    identity = {
        "workflow": context.workflow_name,
        "version": context.workflow_version,
        "run_id": context.run_id,
        "task_id": context.task_id,
        "try_number": context.try_number,
    }
    if context.map_index is not None:
        identity["map_index"] = context.map_index
    return identity


# What a failed or terminated task's result keeps of the outputs and metrics it had set, at
# most (JSON bytes each): enough to see how far it got, never a copy of its data.
KEPT_ON_FAILURE = 8192


def _json_or_empty(value: object) -> Mapping[str, Any]:
    """Outputs or metrics of a task that did not succeed: kept when JSON and small, else {}."""
    try:
        check_json(value, "value")
        size = len(json.dumps(value, separators=(",", ":")))
    except Exception:
        return {}
    if size > KEPT_ON_FAILURE:
        logger.warning(
            "A result of a task that did not succeed keeps at most {} bytes of outputs or "
            "metrics; {} bytes were left out",
            KEPT_ON_FAILURE,
            size,
        )
        return {}
    return value  # type: ignore[return-value]


def complete_context(
    context: RunContext,
    *,
    parameters: str,
    inputs: str,
    declared_parameters: str = "",
    logical_date: str = "",
    data_interval_start: str = "",
    data_interval_end: str = "",
    run_type: str = "manual",
    conf: str = "",
    asset_events: str = "",
    foreach: str = "",
) -> RunContext:
    """The context completed from `run-task`'s options (JSON objects, ISO 8601 dates);
    TaskResolutionError names the option that does not parse or the parameter that does not
    fit its declaration."""
    from processing_core.definition.parameters import ParameterError, parameters_from_data

    declared = None
    try:
        if declared_parameters:
            declared = parameters_from_data(
                _parse_json(declared_parameters, "--declared-parameters")
            )
        run_conf = parse_object(conf, "--conf")
        if declared is not None:
            _refuse_undeclared(run_conf, declared)
        upstream = upstream_outputs(parse_object(inputs, "--inputs"))
        return replace(
            context,
            parameters=parse_object(parameters, "--parameters"),
            inputs=upstream,
            item=_item(context, upstream, foreach),
            logical_date=_parse_date(logical_date, "--logical-date"),
            data_interval_start=_parse_date(data_interval_start, "--data-interval-start"),
            data_interval_end=_parse_date(data_interval_end, "--data-interval-end"),
            run_type=run_type or "manual",
            conf=run_conf,
            declared_parameters=declared,
            **_asset_events(asset_events),
        )
    except ParameterError as error:
        raise TaskResolutionError(f"the run's parameters do not fit: {error}") from None


def _item(context: RunContext, inputs: Mapping[str, Any], foreach: str) -> Any:
    """The element an instance of a mapped node runs on: element --map-index of the upstream
    output --foreach names, checked as the list task checked it."""
    if not foreach and context.map_index is None:
        return None
    if not foreach or context.map_index is None:
        raise TaskResolutionError(
            "--map-index and --foreach go together: an instance of a mapped node is given both"
        )
    from processing_core.definition.foreach import Foreach, ForeachError, item_at

    data = parse_object(foreach, "--foreach")
    try:
        declared = Foreach.from_data(data)
    except (KeyError, TypeError, ValueError):
        raise TaskResolutionError(
            f'--foreach {foreach[:200]!r} is not {{"task": ..., "output": ...}}'
        ) from None
    try:
        return item_at(inputs.get(declared.task_id), declared, context.task_id, context.map_index)
    except ForeachError as error:
        raise TaskResolutionError(str(error)) from None


def _asset_events(text: str) -> dict[str, Any]:
    """RunContext's asset_events and asset_events_omitted from `--asset-events`."""
    if not text:
        return {}
    from processing_core.definition.assets import AssetEvent

    document = parse_object(text, "--asset-events")
    events, omitted = document.get("events", []), document.get("omitted", 0)
    if not isinstance(events, list) or isinstance(omitted, bool) or not isinstance(omitted, int):
        raise TaskResolutionError('--asset-events must be {"events": [...], "omitted": n}')
    try:
        parsed = tuple(AssetEvent.from_data(event) for event in events)
    except (ValueError, AttributeError, TypeError) as error:
        raise TaskResolutionError(f"--asset-events: {error}") from None
    return {"asset_events": parsed, "asset_events_omitted": omitted}


def _refuse_undeclared(conf: Mapping[str, Any], declared: Sequence[Parameter]) -> None:
    """Airflow passes a run's conf keys to the task whether declared or not (its form cannot
    refuse them): a misspelt parameter would be silently ignored. Refuse it here."""
    from processing_core.definition.parameters import undeclared

    names = [parameter.name for parameter in declared]
    unknown = undeclared(declared, conf)
    if unknown:
        raise TaskResolutionError(
            f"the run's conf holds {unknown}, which the workflow does not declare; its "
            f"parameters are {names}: trigger the run without them, or declare them"
        )


def _parse_date(text: str, option: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise TaskResolutionError(
            f"{option} {text[:60]!r} is not an ISO 8601 date, e.g. 2026-11-22T00:00:00+00:00"
        ) from None
    if value.tzinfo is None:
        raise TaskResolutionError(f"{option} {text!r} has no time zone; add one, e.g. +00:00")
    return value
