"""Traces of a task run with OpenTelemetry: this base records nothing.

Without an OTLP endpoint nothing is recorded and the SDK is not even imported (a task's start
pays for what it uses): the task's span is then Airflow's own (from TRACEPARENT), so logs and
events still carry Airflow's trace and span ids; with neither, they carry none. With an
endpoint, `telemetry_export.ExportingTelemetry` records every span and metric and exports
them over OTLP; `run_telemetry.telemetry_for` chooses between the two.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from processing_core.masking import mask

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

    from processing_core.definition.task import RunContext

INSTRUMENTATION = "processing_core"


class Telemetry:
    """The spans of one task run. This base records nothing: its task span is Airflow's."""

    def __init__(
        self, context: RunContext, traceparent: str | None, tracestate: str | None
    ) -> None:
        self.context = context
        self.traceparent = traceparent or None
        self.tracestate = tracestate or None
        self.attributes: dict[str, str | int] = {
            "processing_core.workflow.name": context.workflow_name,
            "processing_core.workflow.version": context.workflow_version,
            "airflow.dag_id": context.dag_id or "",
            "airflow.run_id": context.run_id,
            "airflow.task_id": context.task_id,
            "airflow.try_number": context.try_number,
        }
        if context.map_index is not None:
            self.attributes["airflow.map_index"] = context.map_index

    def parent(self) -> Context | None:
        """Airflow's trace context (TRACEPARENT), or None."""
        if not self.traceparent:
            return None
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier = {"traceparent": self.traceparent}
        if self.tracestate:
            carrier["tracestate"] = self.tracestate
        return TraceContextTextMapPropagator().extract(carrier)

    @contextmanager
    def task_span(self) -> Iterator[Span]:
        """The task's span: here Airflow's own (current for logs and events), else none."""
        parent = self.parent()
        if parent is None:
            # Nothing traces this run: OpenTelemetry is not even imported.
            yield UNRECORDED
            return
        from opentelemetry import trace

        with trace.use_span(trace.get_current_span(parent), end_on_exit=False) as span:
            yield span

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        """A step of the task: here nothing is recorded, the current span stays current."""
        if "opentelemetry.trace" not in sys.modules:
            yield UNRECORDED
            return
        from opentelemetry import trace

        yield trace.get_current_span()

    @staticmethod
    def fail(span: Span, error: BaseException, message: str | None = None) -> None:
        """Mark the span failed, recording the exception with every secret masked.

        (OpenTelemetry's own `record_exception` would copy the message and traceback as
        they are.)
        """
        if not span.is_recording():
            return
        import traceback

        from opentelemetry.trace import Status, StatusCode

        description = mask(message or f"{type(error).__name__}: {error}")
        span.add_event(
            "exception",
            {
                "exception.type": type(error).__qualname__,
                "exception.message": mask(str(error)),
                "exception.stacktrace": mask("".join(traceback.format_exception(error))),
                "exception.escaped": True,
            },
        )
        span.set_status(Status(StatusCode.ERROR, description))

    def record_task(self, failed: bool) -> None:
        """Count the task and its duration (when metrics are exported)."""

    def shutdown(self) -> None:
        """Export what is buffered and stop; called on every way out, SIGTERM included."""


def trace_ids() -> tuple[str | None, str | None]:
    """The current trace and span ids, as hex, or (None, None) outside a span."""
    if "opentelemetry.trace" not in sys.modules:  # no span can exist in this process
        return None, None
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None, None
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


class _Unrecorded:
    """The span of a run nothing traces: every method does nothing, as OpenTelemetry's
    invalid span does, without importing OpenTelemetry for it."""

    def is_recording(self) -> bool:
        return False

    def get_span_context(self) -> Any:
        from opentelemetry.trace import INVALID_SPAN_CONTEXT

        return INVALID_SPAN_CONTEXT

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    set_attribute = set_attributes = add_event = add_link = update_name = _nothing
    set_status = record_exception = end = _nothing

    def __enter__(self) -> _Unrecorded:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


UNRECORDED: Any = _Unrecorded()
