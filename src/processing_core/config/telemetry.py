"""OpenTelemetry of a task run (TelemetrySettings): the OTEL_* variables."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
)

from processing_core.config.concern import _Concern


class TelemetrySettings(_Concern):
    """OpenTelemetry of a task run: nothing touches the network unless an endpoint is set."""

    # OpenTelemetry: nothing touches the network unless an endpoint is set.
    otel_service_name: str = Field(
        default="processing-core", description="service.name of traces and metrics."
    )

    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="OTLP endpoint of both signals (what the OpenTelemetry Operator injects), "
        "e.g. `http://collector:4318`; over http/protobuf `/v1/traces` and `/v1/metrics` are "
        "appended. A signal's own endpoint wins.",
    )

    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="OTLP/HTTP endpoint for spans, e.g. `http://collector:4318/v1/traces`.",
    )

    otel_exporter_otlp_metrics_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="OTLP/HTTP endpoint for metrics, e.g. `http://collector:4318/v1/metrics`.",
    )

    otel_exporter_otlp_protocol: Literal["http/protobuf", "grpc"] = Field(
        default="http/protobuf",
        description="OTLP transport of both endpoints: `http/protobuf` or `grpc` "
        "(gRPC endpoints are `host:port`, e.g. `http://collector:4317`).",
    )

    otel_exporter_otlp_headers: SecretStr | None = Field(
        default=None,
        description="Headers sent with both signals, `key=value,key2=value2` (values "
        "URL-encoded), e.g. `Authorization=Bearer%20...` (never shown).",
    )

    otel_exporter_otlp_traces_headers: SecretStr | None = Field(
        default=None, description="Headers sent with spans; win over OTEL_EXPORTER_OTLP_HEADERS."
    )

    otel_exporter_otlp_metrics_headers: SecretStr | None = Field(
        default=None,
        description="Headers sent with metrics; win over OTEL_EXPORTER_OTLP_HEADERS.",
    )

    otel_exporter_otlp_certificate: str | None = Field(
        default=None,
        description="CA certificate file (PEM) that https and TLS gRPC endpoints are checked "
        "against; default: the system's trusted certificates.",
    )

    otel_exporter_otlp_traces_insecure: bool = Field(
        default=False,
        description="gRPC only: send spans over a plaintext channel. Never turns off "
        "certificate checks for https.",
    )

    otel_exporter_otlp_metrics_insecure: bool = Field(
        default=False,
        description="gRPC only: send metrics over a plaintext channel. Never turns off "
        "certificate checks for https.",
    )

    pod_name: str | None = Field(
        default=None, description="The task pod's name (set by generated pods, downward API)."
    )

    pod_namespace: str | None = Field(
        default=None, description="The task pod's namespace (set by generated pods)."
    )

    traceparent: str | None = Field(
        default=None,
        description="W3C trace context of Airflow's task (set by the generated operators); "
        "the task's span continues that trace.",
    )

    tracestate: str | None = Field(default=None, description="W3C trace state, with TRACEPARENT.")

    @field_validator(
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
        "otel_exporter_otlp_metrics_endpoint",
        "otel_exporter_otlp_certificate",
        "traceparent",
        "tracestate",
        mode="before",
    )
    @classmethod
    def _blank_telemetry_value_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator(
        "otel_exporter_otlp_headers",
        "otel_exporter_otlp_traces_headers",
        "otel_exporter_otlp_metrics_headers",
        mode="before",
    )
    @classmethod
    def _headers(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            parse_headers(value)  # raises naming the shape, never the (secret) text
            return value
        return None if value == "" else value

    def _derived_secrets(self) -> list[str]:
        # Header values (tokens) are secrets, whichever variable holds them.
        return [
            value
            for signal in ("traces", "metrics")
            for value in self.otlp_headers(signal).values()
        ]

    def otlp_endpoint(self, signal: Literal["traces", "metrics"]) -> str | None:
        """Where `signal` is exported: its own endpoint, else the base one, else nowhere."""
        own = getattr(self, f"otel_exporter_otlp_{signal}_endpoint")
        if own or not self.otel_exporter_otlp_endpoint:
            return own
        base = self.otel_exporter_otlp_endpoint
        if self.otel_exporter_otlp_protocol == "grpc":
            return base
        return f"{base.rstrip('/')}/v1/{signal}"

    def otlp_headers(self, signal: Literal["traces", "metrics"]) -> dict[str, str]:
        """The headers of `signal`: its own, else the base ones."""
        own = getattr(self, f"otel_exporter_otlp_{signal}_headers")
        chosen = own or self.otel_exporter_otlp_headers
        return parse_headers(chosen.get_secret_value()) if chosen else {}


# RFC 9110 token: what a header name may hold.
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def parse_headers(text: str) -> dict[str, str]:
    """`key=value,key2=value2` (values URL-encoded), as the OpenTelemetry specification says.

    ValueError describes the expected shape without repeating the text (it holds secrets).
    """
    from urllib.parse import unquote

    headers = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, equals, value = item.partition("=")
        if (
            not equals
            or not key.strip()
            or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", key.strip())
        ):
            raise ValueError(
                "headers must be key=value pairs separated by commas, with header names as "
                "keys and URL-encoded values, e.g. Authorization=Bearer%20TOKEN"
            )
        headers[key.strip()] = unquote(value.strip())
    return headers
