"""The telemetry of one task run: exporting when an OTLP endpoint (or headers) is set, else
the quiet base (processing_core.runtime.telemetry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from processing_core import environment
from processing_core.runtime.telemetry import Telemetry

if TYPE_CHECKING:
    from processing_core.definition.task import RunContext

# Any of these set: spans and metrics are recorded and exported (TelemetrySettings).
EXPORT_VARIABLES = (
    "otel_exporter_otlp_endpoint",
    "otel_exporter_otlp_traces_endpoint",
    "otel_exporter_otlp_metrics_endpoint",
    # Header values are secrets: validated (and registered for masking) when given.
    "otel_exporter_otlp_headers",
    "otel_exporter_otlp_traces_headers",
    "otel_exporter_otlp_metrics_headers",
)


def telemetry_for(context: RunContext) -> Telemetry:
    """The run's telemetry: exporting when an endpoint is configured, else quiet.

    SettingsError names a bad OTEL_* value (only read when exporting).
    """
    if environment.given(*EXPORT_VARIABLES):
        from processing_core.config import TelemetrySettings, load
        from processing_core.masking import register_secrets
        from processing_core.runtime.telemetry_export import ExportingTelemetry

        settings = load(TelemetrySettings)
        register_secrets(settings.secret_values())
        return ExportingTelemetry(settings, context)
    values = environment.lowered()
    return Telemetry(context, values.get("traceparent"), values.get("tracestate"))
