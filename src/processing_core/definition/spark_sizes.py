"""A Spark task's sizes as export writes them: what its class declares over the
SPARK_ON_K8S_* settings (declared fields win), each memory in MB."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from processing_core.definition.spark import (
    SETTING_OF,
    SparkResources,
    instance_problems,
    parse_memory_mb,
)

if TYPE_CHECKING:
    from processing_core.config import Settings


@dataclass(frozen=True)
class ResolvedSparkResources:
    """Every size decided: the task's declaration over the environment's defaults."""

    driver_cores: int
    driver_memory_mb: int
    driver_memory_overhead_mb: int
    executor_cores: int
    executor_memory_mb: int
    executor_memory_overhead_mb: int
    initial_executors: int
    min_executors: int
    max_executors: int
    spark_conf: dict[str, str]
    driver_annotations: dict[str, str]
    executor_annotations: dict[str, str]

    @property
    def dynamic_allocation(self) -> bool:
        return self.min_executors != self.max_executors


def resolve(declared: SparkResources, settings: Settings) -> ResolvedSparkResources:
    """The task's declaration over the environment's defaults (declared fields win)."""
    values: dict[str, Any] = {}
    for name, setting in SETTING_OF.items():
        value = getattr(declared, name)
        value = getattr(settings, setting) if value is None else value
        target = name + ("_mb" if name.endswith(("memory", "overhead")) else "")
        values[target] = parse_memory_mb(value) if target.endswith("_mb") else value
    return ResolvedSparkResources(
        **values,
        spark_conf=dict(sorted(declared.spark_conf.items())),
        driver_annotations=dict(
            sorted(
                {
                    **settings.spark_on_k8s_spark_driver_annotations,
                    **declared.driver_annotations,
                }.items()
            )
        ),
        executor_annotations=dict(
            sorted(
                {
                    **settings.spark_on_k8s_spark_executor_annotations,
                    **declared.executor_annotations,
                }.items()
            )
        ),
    )


def resolved_problems(declared: SparkResources, settings: Settings) -> list[str]:
    """Whether the merged executor counts fit together, naming where each number came from."""
    resolved = resolve(declared, settings)
    fields = ("initial_executors", "min_executors", "max_executors")
    names = tuple(
        f"spark_resources.{name}"
        if getattr(declared, name) is not None
        else SETTING_OF[name].upper()
        for name in fields
    )
    counts = tuple(getattr(resolved, name) for name in fields)
    return instance_problems(counts, names)
