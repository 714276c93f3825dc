"""dkist's TaskBase over processing-core's: its constructor, names, switches, telemetry and
metrics.

dkist-processing-common's `WorkflowTaskBase` (and every science task on it) has its own
three-argument `__init__(recipe_run_id, workflow_name, workflow_version)`, calls
`super().__init__(recipe_run_id=..., workflow_name=..., workflow_version=...)`, then creates
counters and gauges with `self.meter` and `self.format_metric_name`. So `run-task` builds a
compat task as dkist does, with those three keywords (`TaskBase.for_run`), and the run's
context (parameters, inputs, identity, telemetry) reaches `TaskBase.__init__` beside them,
through a context variable set for the construction only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, Self

from processing_core.definition.task import RunContext, SpanSource
from processing_core.definition.task import TaskBase as NativeTaskBase

TRACER_NAME = "processing_core.compat.dkist"
# The meter's name, dkist_service_configuration's: `format_metric_name` prefixes metric names
# with it, so dashboards built on dkist's metrics keep working (dkist.processing.tasks...).
METER_NAME = "dkist"


@dataclass(frozen=True)
class _Run:
    context: RunContext
    telemetry: SpanSource | None


_UNSET = object()

# The run a compat task is being constructed for (TaskBase.for_run), None otherwise.
_CONSTRUCTING: ContextVar[_Run | None] = ContextVar("processing_core_dkist_run", default=None)


class TaskBase(NativeTaskBase):
    """A dkist task: `TaskBase(recipe_run_id, workflow_name, workflow_version)`, positional or
    by keyword, in a test or a notebook; under `run-task`, the same call with the run's
    context beside it (`for_run`). `recipe_run_id` is the run's parameter of that name
    (declared by the compat Workflow).

    `retries` and `retry_delay_seconds` are Airflow's retries. dkist never calls
    `rollback()` on its own: neither does this class unless `rollback_on_failure = True`.
    Telemetry as dkist's: `tracer`, `meter`, `telemetry_span(...)`, `format_metric_name`,
    `base_telemetry_attributes` and `task_execution_counter`; exported with the run's
    telemetry when an OTLP endpoint is set.
    """

    retries: ClassVar[int] = 0
    retry_delay_seconds: ClassVar[int] = 60
    retry_delay: ClassVar[timedelta] = timedelta(seconds=60)
    rollback_on_failure: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "retry_delay_seconds" in cls.__dict__:
            cls.retry_delay = timedelta(seconds=cls.retry_delay_seconds)

    def __init__(
        self,
        recipe_run_id: int | RunContext,
        workflow_name: str | None = None,
        workflow_version: str | None = None,
    ) -> None:
        run = _CONSTRUCTING.get()
        if isinstance(recipe_run_id, RunContext):
            context = recipe_run_id
        elif run is not None:
            context = run.context  # run-task's: dkist's arguments, and the run beside them
        else:
            context = RunContext(
                workflow_name=workflow_name or "unknown",
                workflow_version=workflow_version or "dev",
                task_id=type(self).__name__,
                parameters={"recipe_run_id": recipe_run_id},
            )
        super().__init__(context)
        if run is not None:
            self.telemetry = run.telemetry  # so __init__'s meters are the run's
        self.base_telemetry_attributes: dict[str, Any] = {
            "recipe.run.id": self.recipe_run_id,
            "workflow.name": self.workflow_name,
            "workflow.version": self.workflow_version,
            "task.name": self.task_name,
            "airflow.run_id": self.run_id,
            "airflow.try_number": self.try_number,
        }
        self.task_execution_counter = self.meter.create_counter(
            name=self.format_metric_name("tasks.executed"),
            unit="1",
            description="The number of tasks executed in the processing stack.",
        )

    @classmethod
    def for_run(cls, context: RunContext, telemetry: SpanSource | None = None) -> Self:
        """Construct the task as dkist does (`recipe_run_id=`, `workflow_name=`,
        `workflow_version=` keywords, whatever `__init__` a subclass has), for the run
        `context`. NameNotFoundError when the run has no `recipe_run_id` parameter."""
        token = _CONSTRUCTING.set(_Run(context, telemetry))
        try:
            task = cls(  # a subclass's __init__ takes these keywords
                recipe_run_id=int(context.parameters["recipe_run_id"]),
                workflow_name=context.workflow_name,
                workflow_version=context.workflow_version,
            )
        finally:
            _CONSTRUCTING.reset(token)
        task.telemetry = telemetry
        return task

    @property
    def recipe_run_id(self) -> int:
        return int(self.run_parameters["recipe_run_id"])

    @property
    def run_parameters(self) -> Mapping[str, Any]:
        """The run's parameters (processing-core's `parameters`, under a name of its own)."""
        return NativeTaskBase.parameters.__get__(self)

    @property  # settable: dkist leaves the name free
    def parameters(self) -> Any:
        """The run's parameters, until the task sets its own: dkist-processing-core leaves
        the name free, and DKIST's science tasks keep their instrument parameters here
        (`self.parameters = VispParameters(...)`)."""
        own = self.__dict__.get("_dkist_parameters", _UNSET)
        return self.run_parameters if own is _UNSET else own

    @parameters.setter
    def parameters(self, value: Any) -> None:
        self.__dict__["_dkist_parameters"] = value

    @property
    def task_name(self) -> str:
        return type(self).__name__

    @property
    def tracer(self) -> Any:
        """An OpenTelemetry tracer: the run's when it exports spans, else the global one."""
        own = getattr(self.telemetry, "tracer", None)
        if own is not None:
            return own
        from opentelemetry import trace

        return trace.get_tracer(TRACER_NAME)

    @property
    def meter(self) -> Any:
        """An OpenTelemetry meter: the run's when it exports metrics, else the global one."""
        provider = getattr(self.telemetry, "meter_provider", None)
        if provider is not None:
            return provider.get_meter(METER_NAME)
        from opentelemetry import metrics

        return metrics.get_meter(METER_NAME)

    def format_metric_name(self, name: str) -> str:
        """`<meter name>.processing.<name>`, as dkist names its metrics."""
        return f"{self.meter.name}.processing.{name}"

    @contextmanager
    def telemetry_span(  # dkist's signature, a superset of processing-core's
        self,
        name: str,
        context: Any = None,
        kind: Any = None,
        attributes: Any = None,
        links: Sequence[Any] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Any]:
        """A span as dkist's: a child of the current one, carrying the task's attributes, OK
        unless it failed. An exception is recorded masked (processing-core's way), never
        with its raw message."""
        from opentelemetry.trace import SpanKind, StatusCode

        from processing_core.runtime.telemetry import Telemetry

        with self.tracer.start_as_current_span(
            name=name,
            context=context,
            kind=kind if kind is not None else SpanKind.INTERNAL,
            attributes=attributes,
            links=links,
            start_time=start_time,
            record_exception=False,
            set_status_on_exception=False,
            end_on_exit=end_on_exit,
        ) as span:
            span.set_attributes(self.base_telemetry_attributes)
            try:
                yield span
            except BaseException as error:
                if record_exception or set_status_on_exception:
                    Telemetry.fail(span, error)
                raise
            status = getattr(span, "status", None)
            if status is None or status.status_code == StatusCode.UNSET:
                span.set_status(StatusCode.OK)

    def __call__(self) -> None:
        self.task_execution_counter.add(1, attributes=self.base_telemetry_attributes)
        super().__call__()

    def _rollback_once(self, cause: BaseException) -> None:
        if self.rollback_on_failure:
            super()._rollback_once(cause)
