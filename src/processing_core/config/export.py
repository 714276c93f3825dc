"""What export writes into DAG files: Kubernetes, images, resource profiles, Spark sizes
(ExportSettings). Read when workflows are exported or validated, never by a running task."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from processing_core.config.concern import _Concern
from processing_core.environment import comma_separated

if TYPE_CHECKING:
    from processing_core.definition.volumes import Volume

# Kubernetes object names; they reach templated operator fields, so no Jinja can hide in them.
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"

# `package.module:function`: a team's own callback, imported where Airflow runs it.
_IMPORT_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"

OnFinishAction = Literal["delete_pod", "delete_succeeded_pod", "keep_pod", "delete_active_pod"]
ImagePullPolicy = Literal["Always", "IfNotPresent", "Never"]


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
        "multi_core": dedicated("multi-core"),
        "gpu": dedicated("gpu"),
    }


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
            "pool, queue}; merged over the built-in `default`, `high_memory`, `multi_core` and "
            "`gpu`. `queue` is the Celery queue of the local target's tasks."
        ),
    )

    local_command: str = Field(
        default="processing-core",
        description="Command the `local` export target runs on the Airflow worker.",
    )

    failure_callback: str | None = Field(
        default=None,
        pattern=_IMPORT_PATH,
        description=(
            "A team's own task failure callback, `package.module:function`, called with "
            "Airflow's context beside processing-core's (e.g. a chat-ops message); imported "
            "when a task fails, where Airflow runs it."
        ),
    )

    deadline_callback: str | None = Field(
        default=None,
        pattern=_IMPORT_PATH,
        description=(
            "A team's own callback for a late run (`Workflow(deadline=...)`), "
            "`package.module:function` (plain or `async`), called with Airflow's deadline "
            "context after processing-core's `run.late` event; imported in Airflow's "
            "triggerer when a deadline is missed."
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
    def _blank_export_value_is_unset(cls, value: str | None) -> str | None:
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
