"""Every environment variable processing-core reads, typed, in one file, one class per concern.

Export (ExportSettings), a running task (RunSettings; TelemetrySettings when it exports
spans, EventSettings when it sends events), releases (ReleaseSettings). A variable means the
same thing everywhere; each side reads only its concerns, so a bad export setting can never
fail a running task. `Settings` holds them all (the README's table). Field names are the variable
names in lower case.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from types import UnionType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from processing_core.environment import comma_separated, lowered
from processing_core.errors import SettingsError

if TYPE_CHECKING:
    from processing_core.definition.volumes import Volume

# Kubernetes object names; they reach templated operator fields, so no Jinja can hide in them.
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"

OnFinishAction = Literal["delete_pod", "delete_succeeded_pod", "keep_pod", "delete_active_pod"]
ImagePullPolicy = Literal["Always", "IfNotPresent", "Never"]


class MeshService(BaseModel):
    """One service's address in MESH_CONFIG."""

    mesh_address: str = Field(min_length=1)
    mesh_port: int = Field(gt=0, lt=65536)

    def credentials(self) -> list[str]:
        """What the address holds before its last `@` (`user:password@host`, with a scheme or
        not): the password, or a token given alone. Masked wherever settings are shown."""
        userinfo, at, _ = self.mesh_address.split("://", 1)[-1].rpartition("@")
        if not at or not userinfo:
            return []
        _user, colon, password = userinfo.partition(":")
        return [password if colon else userinfo]


class RetryConfig(BaseModel):
    """How publishing events retries: attempts, delays growing by `backoff`, random jitter."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    attempts: int = Field(default=3, ge=1, le=100)
    delay_seconds: float = Field(default=0.2, ge=0)
    max_delay_seconds: float = Field(default=5.0, ge=0)
    backoff: float = Field(default=2.0, ge=1)
    jitter_seconds: float = Field(default=0.1, ge=0)

    def delays(self) -> list[float]:
        """The pause before each retry, jitter left out (the caller adds it)."""
        return [
            min(self.delay_seconds * self.backoff**number, self.max_delay_seconds)
            for number in range(self.attempts - 1)
        ]


class ResourceProfileSettings(BaseModel):
    """Where tasks of one resource profile run: node selection, an Airflow pool, and (for
    the local target, whose tasks run on Airflow's workers) a Celery queue."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    affinity: dict[str, Any] | None = None
    pool: str | None = None
    queue: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,200}$")

    def placement(self) -> dict[str, Any]:
        """The pod's node selection as operator arguments, in a stable order; unset left out."""
        placement: dict[str, Any] = {
            "node_selector": dict(sorted(self.node_selector.items())),
            "tolerations": [dict(sorted(t.items())) for t in self.tolerations],
            "affinity": self.affinity,
        }
        return {key: value for key, value in placement.items() if value}


def _builtin_profiles() -> dict[str, ResourceProfileSettings]:
    # A convention a cluster admin can follow as is, or replace through RESOURCE_PROFILES:
    # dedicated node pools are labelled and tainted with processing-core/profile=<name>.
    def dedicated(name: str) -> ResourceProfileSettings:
        return ResourceProfileSettings(
            node_selector={"processing-core/profile": name},
            tolerations=[
                {
                    "key": "processing-core/profile",
                    "operator": "Equal",
                    "value": name,
                    "effect": "NoSchedule",
                }
            ],
        )

    return {
        "default": ResourceProfileSettings(),
        "high_memory": dedicated("high-memory"),
        "gpu": dedicated("gpu"),
    }


class _Concern(BaseModel):
    """Settings of one concern, read from the environment by `load()`."""

    # Built on first use: a side builds the validators of the concerns it reads, no other.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for the masker."""
        return [
            value.get_secret_value()
            for value in (getattr(self, name) for name in type(self).model_fields)
            if isinstance(value, SecretStr)
        ] + self._derived_secrets()

    def _derived_secrets(self) -> list[str]:
        return []


class ExportSettings(_Concern):
    """What export writes into DAG files: Kubernetes, images, resource profiles, Spark sizes.

    Read when workflows are exported or validated, never by a running task.
    """

    build_version: str | None = Field(
        default=None,
        description=(
            "Version of the workflows being exported when a workflow declares none "
            "(CI sets it from the git tag). Falls back to the installed distribution's version."
        ),
    )

    pipeline_image_repository: str | None = Field(
        default=None,
        description=(
            "Container image repository of the pipeline, e.g. `registry.example.org/vbi`; the "
            "image is `<repository>:<version>`. Default: the workflow package's name."
        ),
    )

    k8s_namespace: str = Field(
        default="default",
        pattern=_DNS_LABEL,
        description="Kubernetes namespace the task pods run in.",
    )

    k8s_service_account: str | None = Field(
        default=None,
        pattern=_DNS_SUBDOMAIN,
        description="Service account of the task pods (none: the namespace's default).",
    )

    k8s_image_pull_secrets: str = Field(
        default="",
        description="Comma-separated names of Secrets used to pull the pipeline image.",
    )

    k8s_env_from_configmaps: str = Field(
        default="",
        description=(
            "Comma-separated ConfigMaps whose keys become environment variables of every task "
            "pod and Spark driver and executor: how pods get ISB_HOST, OTEL_*, LOG_FORMAT..."
        ),
    )

    k8s_env_from_secrets: str = Field(
        default="",
        description="Comma-separated Secrets whose keys become environment variables of every "
        "task pod and Spark driver and executor (e.g. one holding ISB_PASSWORD).",
    )

    k8s_image_pull_policy: ImagePullPolicy = Field(
        default="IfNotPresent",
        description="Image pull policy; versioned tags are immutable, so IfNotPresent is safe.",
    )

    k8s_on_finish_action: OnFinishAction = Field(
        default="delete_succeeded_pod",
        description="What happens to a pod when its task ends; failed pods are kept by default.",
    )

    k8s_startup_timeout_seconds: int = Field(
        default=600,
        gt=0,
        description="Seconds a pod may take to start (pull and schedule) before the task fails.",
    )

    k8s_conn_id: str = Field(
        default="kubernetes_default",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Airflow connection id of the Kubernetes cluster.",
    )

    k8s_volumes: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "JSON list of volumes every task pod and Spark driver and executor mounts, each "
            '`{"name", "claim" | "config_map" | "secret" | "empty_dir": true, "mount_path", '
            '"read_only"}`, e.g. `[{"name": "data", "claim": "pipeline-data", '
            '"mount_path": "/data"}]`.'
        ),
    )

    resource_profiles: dict[str, ResourceProfileSettings] = Field(
        default_factory=dict,
        description=(
            "JSON object of resource profiles, name -> {node_selector, tolerations, affinity, "
            "pool, queue}; merged over the built-in `default`, `high_memory` and `gpu`. "
            "`queue` is the Celery queue of the local target's tasks."
        ),
    )

    local_command: str = Field(
        default="processing-core",
        description="Command the `local` export target runs on the Airflow worker.",
    )

    failure_callback: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$",
        description=(
            "A team's own task failure callback, `package.module:function`, called with "
            "Airflow's context beside processing-core's (e.g. a chat-ops message); imported "
            "when a task fails, where Airflow runs it."
        ),
    )

    # Spark tasks: defaults for every Spark task's SparkApplication; a task class's
    # spark_resources wins field by field. Memory in MB (or with a unit: 2g, 512m).
    spark_on_k8s_driver_cpu: int = Field(default=1, gt=0, description="Spark driver cores.")

    spark_on_k8s_driver_memory: int = Field(default=1024, description="Spark driver memory in MB.")

    spark_on_k8s_driver_memory_overhead: int = Field(
        default=512, description="Spark driver memory overhead in MB."
    )

    spark_on_k8s_executor_cpu: int = Field(default=1, gt=0, description="Spark executor cores.")

    spark_on_k8s_executor_memory: int = Field(
        default=1024, description="Spark executor memory in MB."
    )

    spark_on_k8s_executor_memory_overhead: int = Field(
        default=512, description="Spark executor memory overhead in MB."
    )

    spark_on_k8s_executor_initial_instances: int = Field(
        default=2, gt=0, description="Executors at start."
    )

    spark_on_k8s_executor_min_instances: int = Field(
        default=2, gt=0, description="Fewest executors; below max turns on dynamic allocation."
    )

    spark_on_k8s_executor_max_instances: int = Field(default=2, gt=0, description="Most executors.")

    spark_on_k8s_spark_driver_annotations: dict[str, str] = Field(
        default_factory=dict,
        description=(
            'JSON object of annotations for driver pods, e.g. `{"my.annotation/driver": "v"}`.'
        ),
    )

    spark_on_k8s_spark_executor_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object of annotations for executor pods.",
    )

    spark_on_k8s_spark_version: str = Field(
        default="4.0.1",
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
        description="Spark version of the pipeline image (the SparkApplication's sparkVersion).",
    )

    spark_on_k8s_main_application_file: str = Field(
        default="local:///opt/processing-core/spark_main.py",
        pattern=r"^[A-Za-z0-9+.-]+://[A-Za-z0-9_./-]+$",
        description=(
            "Where the image holds processing-core's Spark entrypoint "
            "(`processing-core spark-main` prints the installed file to link there)."
        ),
    )

    spark_conn_id: str = Field(
        default="spark_default",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Airflow connection of the Spark master that Spark tasks of the `local` "
        "target are submitted to (spark-submit, client mode: the driver runs on the worker).",
    )

    @field_validator(
        "build_version",
        "pipeline_image_repository",
        "k8s_service_account",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("k8s_volumes")
    @classmethod
    def _volumes(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from processing_core.definition.volumes import Volume, volume_set_problems

        volumes = [Volume.from_data(item, f"volume {index}") for index, item in enumerate(value)]
        problems = [problem for volume in volumes for problem in volume.problems()]
        problems += volume_set_problems(("K8S_VOLUMES", volume) for volume in volumes)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("resource_profiles", mode="before")
    @classmethod
    def _plain_profile_values(cls, value: object) -> object:
        # They reach templated operator fields and DAG files: no Jinja, no NaN or infinity.
        problem = _unrenderable(value, "RESOURCE_PROFILES")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("k8s_image_pull_secrets", "k8s_env_from_configmaps", "k8s_env_from_secrets")
    @classmethod
    def _object_names(cls, value: str) -> str:
        for name in (part.strip() for part in value.split(",")):
            if name and not re.fullmatch(_DNS_SUBDOMAIN, name):
                raise ValueError(f"{name!r} is not a Kubernetes object name")
        return value

    @field_validator(
        "spark_on_k8s_driver_memory",
        "spark_on_k8s_driver_memory_overhead",
        "spark_on_k8s_executor_memory",
        "spark_on_k8s_executor_memory_overhead",
        mode="before",
    )
    @classmethod
    def _memory_mb(cls, value: object) -> int:
        from processing_core.definition.spark import parse_memory_mb

        return parse_memory_mb(value)

    @field_validator(
        "spark_on_k8s_spark_driver_annotations", "spark_on_k8s_spark_executor_annotations"
    )
    @classmethod
    def _annotations(cls, value: dict[str, str]) -> dict[str, str]:
        from processing_core.definition.spark import string_map_problems

        problems = string_map_problems(value, "annotations")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _executor_instances(self) -> ExportSettings:
        from processing_core.definition.spark import instance_problems

        names = ("initial", "min", "max")
        problems = instance_problems(
            [getattr(self, f"spark_on_k8s_executor_{n}_instances") for n in names],
            [f"SPARK_ON_K8S_EXECUTOR_{n.upper()}_INSTANCES" for n in names],
        )
        if problems:
            raise ValueError(problems[0])
        return self

    def volumes(self) -> tuple[Volume, ...]:
        """K8S_VOLUMES as Volume objects (checked when the settings were read)."""
        from processing_core.definition.volumes import Volume

        return tuple(Volume.from_data(item, "K8S_VOLUMES") for item in self.k8s_volumes)

    def profiles(self) -> dict[str, ResourceProfileSettings]:
        """The built-in resource profiles with RESOURCE_PROFILES merged over them."""
        return {**_builtin_profiles(), **self.resource_profiles}

    def image_pull_secret_names(self) -> list[str]:
        return comma_separated(self.k8s_image_pull_secrets)

    def env_from(self) -> list[tuple[str, str]]:
        """(kind, name) of each ConfigMap and Secret to load as environment, in order."""
        return [("configmap", n) for n in comma_separated(self.k8s_env_from_configmaps)] + [
            ("secret", n) for n in comma_separated(self.k8s_env_from_secrets)
        ]


class RunSettings(_Concern):
    """How `run-task` runs a task: its result, logging, local Spark."""

    result_path: str | None = Field(
        default=None,
        description=(
            "Where `run-task` writes the result JSON (`-`: standard output). The Kubernetes "
            "target passes Airflow's XCom path."
        ),
    )

    loguru_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = (
        Field(default="INFO", description="Lowest level of log lines written.")
    )

    log_format: Literal["human", "json"] | None = Field(
        default=None,
        description=(
            "`human` or `json` (one JSON object per line, for cluster log collection); "
            "default: human on a terminal, json otherwise."
        ),
    )

    otel_python_disabled_instrumentations: str = Field(
        default="",
        description="Comma-separated instrumentations not to enable (`logging` keeps the "
        "standard library's logging out of loguru).",
    )

    processing_core_debug: bool = Field(
        default=False,
        description="Show the full (masked) traceback of a command's error, as `--debug` does.",
    )

    pyspark_gateway_port: int | None = Field(
        default=None,
        description=(
            "Set by spark-submit, not by people: when present, a Spark task joins the submitted "
            "application instead of starting local Spark."
        ),
    )

    spark_local_master: str = Field(
        default="local[2]",
        pattern=r"^local(\[([0-9]+|\*)\])?$",
        description="Spark master of a Spark task run outside Kubernetes (local mode).",
    )

    @field_validator(
        "log_format",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("loguru_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    def disabled_instrumentations(self) -> set[str]:
        return set(comma_separated(self.otel_python_disabled_instrumentations))


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
    def _blank_is_unset(cls, value: str | None) -> str | None:
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


class EventSettings(_Concern):
    """Status events on the interservice bus (RabbitMQ), and their outbox."""

    # Status events on the interservice bus (RabbitMQ).
    events_enabled: bool = Field(
        default=True, description="Publish task status events to RabbitMQ."
    )

    isb_host: str | None = Field(
        default=None,
        description="RabbitMQ host; default MESH_CONFIG's interservice-bus, else localhost.",
    )

    isb_port: int | None = Field(
        default=None,
        gt=0,
        lt=65536,
        description="RabbitMQ port; default MESH_CONFIG's interservice-bus, else 5672.",
    )

    mesh_config: dict[str, MeshService] = Field(
        default_factory=dict,
        description=(
            'JSON object of service addresses, e.g. `{"interservice-bus": {"mesh_address": '
            '"localhost", "mesh_port": 5672}}`.'
        ),
    )

    isb_username: str = Field(default="guest", description="RabbitMQ user.")

    isb_password: SecretStr = Field(
        default=SecretStr("guest"), description="RabbitMQ password (never shown)."
    )

    isb_exchange: str = Field(
        default="processing-core.events",
        pattern=r"^[A-Za-z0-9_.:-]{1,255}$",
        description="Topic exchange events are published to; routing key = event kind.",
    )

    isb_queue: str = Field(
        default="processing-core.events",
        pattern=r"^[A-Za-z0-9_.:-]{1,255}$",
        description="Durable queue the library declares and binds to the exchange (all kinds).",
    )

    isb_queue_type: Literal["classic", "quorum"] = Field(
        default="classic", description="Type of that queue: classic or quorum."
    )

    isb_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Seconds to wait for RabbitMQ to connect, confirm or close before an event "
        "goes to the outbox; a broker that stalls is not tried again in the same run.",
    )

    retry_config: RetryConfig = Field(
        default_factory=RetryConfig,
        description=(
            "JSON object: attempts, delay_seconds, max_delay_seconds, backoff, jitter_seconds "
            "of publishing before an event goes to the outbox."
        ),
    )

    events_outbox: str = Field(
        default_factory=lambda: os.path.join(tempfile.gettempdir(), "processing-core-outbox"),
        description=(
            "Folder keeping events the broker did not confirm, until they are delivered; "
            "mount a volume there to keep them across pods."
        ),
    )

    @model_validator(mode="after")
    def _outbox_is_a_folder(self) -> EventSettings:
        path = self.events_outbox
        if self.events_enabled and os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(
                f"EVENTS_OUTBOX {path!r} is a file; it must be a folder (or not exist yet)"
            )
        return self

    def _derived_secrets(self) -> list[str]:
        return [secret for service in self.mesh_config.values() for secret in service.credentials()]

    def isb_address(self) -> tuple[str, int]:
        """RabbitMQ's host and port: ISB_HOST/ISB_PORT, else MESH_CONFIG, else localhost:5672."""
        mesh = self.mesh_config.get("interservice-bus")
        host = self.isb_host or (mesh.mesh_address if mesh else "localhost")
        port = self.isb_port or (mesh.mesh_port if mesh else 5672)
        return host, port


class ReleaseSettings(_Concern):
    """Bundles: publishing to the artifact repository, and the limits of unpacking one."""

    # Publishing DAG bundles to an artifact repository (Artifactory).
    artifactory_token: SecretStr | None = Field(
        default=None, description="Access token for publishing bundles (never shown)."
    )

    artifactory_username: str | None = Field(
        default=None, description="User for publishing bundles, with ARTIFACTORY_PASSWORD."
    )

    artifactory_password: SecretStr | None = Field(
        default=None, description="Password of ARTIFACTORY_USERNAME (never shown)."
    )

    airflow_api_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Airflow's API server, e.g. `http://airflow-api:8080`: `prune` asks it which "
        "versions have runs in progress (default: Airflow's metadata database, where installed); "
        "the triggerer's RabbitMQ trigger asks it which messages are events already.",
    )
    airflow_api_token: SecretStr | None = Field(
        default=None, description="Bearer token for AIRFLOW_API_URL (never shown)."
    )
    bundle_max_file_bytes: int = Field(
        default=16 << 20,
        gt=0,
        description="Largest file a DAG bundle may unpack to; `verify` and `install` refuse "
        "bigger ones (a zip bomb is refused before it is unpacked).",
    )

    bundle_max_total_bytes: int = Field(
        default=256 << 20,
        gt=0,
        description="Largest total a DAG bundle may unpack to (`verify`, `install`).",
    )

    bundle_trusted_keys: str = Field(
        default="",
        description="Public keys whose signatures bundles must carry, comma-separated: each an "
        "Ed25519 key as `ssh-ed25519 AAAA...` or a file of such lines (or a PEM public key). "
        "When set, `verify`, `install`, `publish` and the artifact-repository DAG bundle refuse "
        "bundles that are unsigned or signed by another key.",
    )

    bundle_signing_key_passphrase: SecretStr | None = Field(
        default=None,
        description="Passphrase of the private key `bundle --sign` and `keygen` use (never shown).",
    )

    bundle_fetch_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="The most one download of the artifact-repository DAG bundle may take, "
        "from connecting to its last byte.",
    )

    bundle_refresh_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="The most one refresh of the artifact-repository DAG bundle spends "
        "downloading archives; what it could not fetch waits for the next refresh.",
    )

    bundle_max_index_bytes: int = Field(
        default=8 << 20,
        gt=0,
        description="Largest `index.json` the artifact-repository DAG bundle reads.",
    )

    bundle_max_index_entries: int = Field(
        default=10_000,
        gt=0,
        description="Most versions an `index.json` may list for the artifact-repository DAG "
        "bundle (every distribution together).",
    )

    def trusted_keys(self, *more: str) -> Any:
        """BUNDLE_TRUSTED_KEYS and `more` (a `release.signing.TrustedKeys`; empty: signatures
        are not required). SigningError names a key that cannot be read."""
        from processing_core.environment import comma_separated
        from processing_core.release.signing import TrustedKeys

        return TrustedKeys.from_items([*comma_separated(self.bundle_trusted_keys), *more])


class AssetQueueSettings(_Concern):
    """The scheduler's repair of asset events left in no run (processing_core.airflow.plugin)."""

    asset_queue_repair: Literal["processing-core", "all", "off"] = Field(
        default="processing-core",
        description="Which asset-scheduled DAGs the scheduler's processing-core plugin keeps "
        "from stranding events in no run (apache/airflow#56050): `processing-core` (the DAGs "
        "it generated), `all`, or `off`.",
    )
    asset_queue_repair_seconds: float = Field(
        default=10.0,
        ge=1,
        le=3600,
        description="How often the scheduler looks for stranded asset events, at most; a run "
        "that starts or ends looks at once.",
    )


class Settings(
    ExportSettings,
    ReleaseSettings,
    RunSettings,
    TelemetrySettings,
    EventSettings,
    AssetQueueSettings,
):
    """Every setting of every concern: what the build side and `processing-core settings`
    read, and what the README's table documents."""

    def _derived_secrets(self) -> list[str]:
        # Each concern's own (the MRO would give only the first concern's).
        return [
            secret
            for concern in type(self).__mro__[1:]
            if "_derived_secrets" in vars(concern) and concern is not _Concern
            for secret in vars(concern)["_derived_secrets"](self)
        ]


def _unrenderable(value: object, where: str, depth: int = 0) -> str | None:
    """Why `value` (parsed JSON) cannot reach a DAG file as is, or None."""
    if depth > 32:
        return f"{where} is nested more than 32 levels deep"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} holds {value!r}; use a finite number"
    if isinstance(value, str) and any(mark in value for mark in ("{{", "{%", "{#")):
        return (
            f"{where} holds {value!r}, with a Jinja marker ({{{{, {{% or {{#) that Airflow "
            "would render; remove it"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _unrenderable(key, where, depth + 1) or _unrenderable(
                item, f"{where}[{key!r}]", depth + 1
            )
            if problem:
                return problem
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _unrenderable(item, f"{where}[{index}]", depth + 1)
            if problem:
                return problem
    return None


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


ConcernT = TypeVar("ConcernT", bound=_Concern)


def load(concern: type[ConcernT], **overrides: Any) -> ConcernT:
    """Read one concern's settings from the environment (variable = field name, any case;
    JSON for structured values); an invalid value raises SettingsError naming the variable.

    Each side reads only what it uses (`run-task`: its run, telemetry and event concerns, as
    needed), so a bad setting of another concern cannot stop it. Hand-written rather than
    pydantic-settings: that library costs a task's start ~30-130 ms of imports, for what
    these lines do.
    """
    environment = lowered()
    values: dict[str, Any] = {}
    problems = []
    for name, field in concern.model_fields.items():
        if name in overrides:
            values[name] = overrides[name]
        elif name in environment:
            text = environment[name]
            if not _structured(field.annotation):
                values[name] = text
            elif text.strip():  # an empty structured value is no value
                try:
                    values[name] = json.loads(text)
                except (json.JSONDecodeError, RecursionError):
                    problems.append(_problem(concern, name, "not valid JSON"))
    if not problems:
        try:
            return concern.model_validate(values)
        except ValidationError as error:
            problems = [
                _problem(concern, str(item["loc"][0]), _plain(item["msg"]), item["loc"][1:])
                if item["loc"]
                else _plain(item["msg"])
                for item in error.errors()
            ]
    raise SettingsError("Invalid environment setting(s):\n  " + "\n  ".join(problems))


def load_settings(**overrides: Any) -> Settings:
    """Every setting (the build side's view); see `load()`."""
    return load(Settings, **overrides)


def _structured(annotation: Any) -> bool:
    """Whether a field's value is given as JSON: objects, lists and models."""
    candidates = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    for candidate in candidates or (annotation,):
        if get_origin(candidate) in (dict, list):
            return True
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return True
    return False


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")


def _problem(
    concern: type[_Concern], field_name: str, what: str, inner: tuple[Any, ...] = ()
) -> str:
    field = concern.model_fields.get(field_name)
    expects = f" Expected: {field.description}" if field and field.description else ""
    where = "".join(f"[{part!r}]" for part in inner)
    return f"{field_name.upper()}{where}: {what}.{expects}"


# Who reads each concern, as the README's table says.
READERS: dict[type[_Concern], str] = {
    ExportSettings: "export, validate, bundle",
    RunSettings: "run-task",
    TelemetrySettings: "run-task, when an OTLP endpoint is set",
    EventSettings: (
        "run-task and Airflow callbacks, when events are on; `events`; the triggerer's "
        "RabbitMQ trigger (the broker)"
    ),
    ReleaseSettings: "verify, install, publish, prune; the triggerer's RabbitMQ trigger (API)",
    AssetQueueSettings: "the Airflow scheduler (processing-core's plugin)",
}


def settings_markdown() -> str:
    """The table of environment variables, by concern, as the README shows it."""
    rows = ["| variable | default | read by | meaning |", "| --- | --- | --- | --- |"]
    for concern, readers in READERS.items():
        for name, field in concern.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if name == "events_outbox":
                default = "<temp dir>/processing-core-outbox"  # the machine's, not this one's
            elif isinstance(default, BaseModel):
                default = default.model_dump_json()
            shown = "" if default in (None, "", {}, []) else f"`{default}`"
            description = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{name.upper()}` | {shown} | {readers} | {description} |")
    return "\n".join(rows) + "\n"
