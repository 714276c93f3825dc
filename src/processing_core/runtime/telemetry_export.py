"""Recorded spans and metrics of a task run, exported over OTLP (an endpoint is set).

Imported only then: the OpenTelemetry SDK and its exporters cost a task's start tens of
milliseconds it does not spend when nothing is exported.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span

from processing_core._meta import library_version
from processing_core.runtime.telemetry import INSTRUMENTATION, Telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider

    from processing_core.config import TelemetrySettings
    from processing_core.definition.task import RunContext


class ExportingTelemetry(Telemetry):
    """The tracer (and meter) of one task run; `shutdown()` flushes everything."""

    def __init__(self, settings: TelemetrySettings, context: RunContext) -> None:
        super().__init__(context, settings.traceparent, settings.tracestate)
        self.settings = settings
        resource: dict[str, str | int] = {
            "service.name": settings.otel_service_name,
            "service.version": library_version(),
            **self.attributes,
        }
        if settings.pod_name:
            resource["k8s.pod.name"] = settings.pod_name
        if settings.pod_namespace:
            resource["k8s.namespace.name"] = settings.pod_namespace
        self.resource = Resource.create(resource)
        self.tracer_provider = TracerProvider(resource=self.resource)
        if settings.otlp_endpoint("traces"):
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            self.tracer_provider.add_span_processor(
                BatchSpanProcessor(_exporter("traces", settings))
            )
        self.tracer = self.tracer_provider.get_tracer(INSTRUMENTATION, library_version())
        self.meter_provider = _meter_provider(settings, self.resource)
        self._started = time.perf_counter()

    @contextmanager
    def task_span(self) -> Iterator[Span]:
        """The task's span: a child of Airflow's (TRACEPARENT) or the root of a new trace."""
        with self.tracer.start_as_current_span(
            f"task {self.context.task_id}",
            context=self.parent(),
            attributes=self.attributes,
            # The entrypoint handles failures inside the span and marks it itself.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span

    @contextmanager
    def span(self, name: str) -> Iterator[Span]:
        """A child of the current span; an exception is recorded and sets the error status."""
        with self.tracer.start_as_current_span(
            name, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except BaseException as error:
                self.fail(span, error)
                raise

    def record_task(self, failed: bool) -> None:
        """Count the task and its duration, with workflow, version and task as attributes."""
        if self.meter_provider is None:
            return
        meter = self.meter_provider.get_meter(INSTRUMENTATION, library_version())
        attributes = {
            "workflow": self.context.workflow_name,
            "version": self.context.workflow_version,
            "task": self.context.task_id,
        }
        meter.create_counter(
            "processing_core.tasks.executed", description="Task runs, whatever their outcome."
        ).add(1, attributes)
        meter.create_counter("processing_core.tasks.failed", description="Failed task runs.").add(
            1 if failed else 0, attributes
        )
        meter.create_histogram(
            "processing_core.task.duration", unit="s", description="Duration of task runs."
        ).record(time.perf_counter() - self._started, attributes)

    def shutdown(self) -> None:
        """Export what is buffered and stop; called on every way out, SIGTERM included."""
        self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def _meter_provider(settings: TelemetrySettings, resource: Resource) -> MeterProvider | None:
    if not settings.otlp_endpoint("metrics"):
        return None
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    exporter = _exporter("metrics", settings)
    # One export at shutdown is what a task run needs; the interval only bounds long tasks.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    return MeterProvider(resource=resource, metric_readers=[reader])


# Signal -> (module under opentelemetry.exporter.otlp.proto.<protocol>, exporter class).
_EXPORTERS = {
    "traces": ("trace_exporter", "OTLPSpanExporter"),
    "metrics": ("metric_exporter", "OTLPMetricExporter"),
}


def _exporter(signal: Literal["traces", "metrics"], settings: TelemetrySettings) -> Any:
    """The OTLP exporter of `signal` over the configured protocol, endpoint and headers.

    Certificates of https and TLS gRPC endpoints are always checked (against
    OTEL_EXPORTER_OTLP_CERTIFICATE when given); `*_INSECURE` only asks gRPC for a plaintext
    channel, as the OpenTelemetry specification has it.
    """
    from importlib import import_module

    endpoint = settings.otlp_endpoint(signal)
    headers = settings.otlp_headers(signal) or None
    certificate = settings.otel_exporter_otlp_certificate
    module, name = _EXPORTERS[signal]
    if settings.otel_exporter_otlp_protocol == "grpc":
        from processing_core.extras import require

        require("opentelemetry.exporter.otlp.proto.grpc", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc")
        exporter = getattr(import_module(f"opentelemetry.exporter.otlp.proto.grpc.{module}"), name)
        insecure = getattr(settings, f"otel_exporter_otlp_{signal}_insecure")
        credentials = _grpc_credentials(certificate) if certificate and not insecure else None
        return exporter(
            endpoint=endpoint, insecure=insecure, headers=headers, credentials=credentials
        )
    exporter = getattr(import_module(f"opentelemetry.exporter.otlp.proto.http.{module}"), name)
    return exporter(
        endpoint=endpoint,
        headers=headers,
        certificate_file=certificate,
        session=_session_trusting(certificate, endpoint) if certificate else None,
    )


def _session_trusting(certificate: str, endpoint: str | None) -> Any:
    """A requests session for an exporter that must check certificates against `certificate`.

    requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE override a session's `verify`
    (psf/requests#3829), so the exporter's own session would quietly trust the system's CAs
    instead. This one reads no CA setting from the environment, and keeps its proxies.
    """
    import requests

    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(endpoint or ""))
    return session


def _grpc_credentials(certificate: str) -> Any:
    import grpc

    with open(certificate, "rb") as handle:
        return grpc.ssl_channel_credentials(root_certificates=handle.read())
