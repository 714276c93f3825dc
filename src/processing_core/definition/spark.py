"""Spark resources: what a Spark task declares, and the checks of sizes and counts that the
SPARK_ON_K8S_* settings share (`config` uses them; `spark_sizes` merges the two).

Memory is in MB (mebibytes, as Spark means `m`); a size may also be written with a unit
(`2g`, `512m`, `2Gi`). The environment gives the defaults; what a task class declares wins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_MEMORY_RE = re.compile(r"^\s*([0-9]+)\s*([A-Za-z]*)\s*\Z")
# Unit -> MB; Spark's own suffixes (k, m, g, t, with or without b) and Kubernetes' (Ki..Ti).
_MEMORY_UNITS = {
    "": 1, "m": 1, "mb": 1, "mi": 1,
    "g": 1024, "gb": 1024, "gi": 1024,
    "t": 1024**2, "tb": 1024**2, "ti": 1024**2,
}  # fmt: skip
_JINJA_MARKS = ("{{", "{%", "{#")


def parse_memory_mb(value: object) -> int:
    """MB from `1024`, `'1024'`, `'2g'`, `'512Mi'`; ValueError names the unit or the value."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a memory size")
    if isinstance(value, int):
        megabytes = value
    else:
        match = _MEMORY_RE.fullmatch(str(value))
        if match is None:
            raise ValueError(
                f"{value!r} is not a memory size; write MB as a whole number or e.g. '2g'"
            )
        unit = match.group(2).lower()
        if unit not in _MEMORY_UNITS:
            raise ValueError(
                f"unknown unit {match.group(2)!r} in {value!r}; write MB as a whole number or "
                "use m, g or t (e.g. '512m', '2g')"
            )
        megabytes = int(match.group(1)) * _MEMORY_UNITS[unit]
    if megabytes <= 0:
        raise ValueError(f"{value!r} must be greater than zero")
    return megabytes


@dataclass(frozen=True)
class SparkResources:
    """Driver and executor sizes of a Spark task; None leaves a field to SPARK_ON_K8S_*.

    `min_executors != max_executors` turns on dynamic allocation.
    """

    driver_cores: int | None = None
    driver_memory: int | str | None = None
    driver_memory_overhead: int | str | None = None
    executor_cores: int | None = None
    executor_memory: int | str | None = None
    executor_memory_overhead: int | str | None = None
    initial_executors: int | None = None
    min_executors: int | None = None
    max_executors: int | None = None
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    driver_annotations: Mapping[str, str] = field(default_factory=dict)
    executor_annotations: Mapping[str, str] = field(default_factory=dict)


# Declared field -> the setting (and, upper-cased, the variable) that gives its default.
SETTING_OF = {
    "driver_cores": "spark_on_k8s_driver_cpu",
    "driver_memory": "spark_on_k8s_driver_memory",
    "driver_memory_overhead": "spark_on_k8s_driver_memory_overhead",
    "executor_cores": "spark_on_k8s_executor_cpu",
    "executor_memory": "spark_on_k8s_executor_memory",
    "executor_memory_overhead": "spark_on_k8s_executor_memory_overhead",
    "initial_executors": "spark_on_k8s_executor_initial_instances",
    "min_executors": "spark_on_k8s_executor_min_instances",
    "max_executors": "spark_on_k8s_executor_max_instances",
}


def declared_problems(resources: object) -> list[str]:
    """What is wrong with a class's `spark_resources` on its own; [] when fine."""
    if not isinstance(resources, SparkResources):
        return [f"spark_resources is {resources!r}; declare processing_core.SparkResources(...)"]
    found = []
    for name in SETTING_OF:
        value = getattr(resources, name)
        if value is None:
            continue
        if name.endswith(("memory", "overhead")):
            try:
                parse_memory_mb(value)
            except ValueError as error:
                found.append(f"spark_resources.{name}: {error}")
        elif isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            found.append(f"spark_resources.{name} is {value!r}; it must be a whole number > 0")
    for label in ("spark_conf", "driver_annotations", "executor_annotations"):
        found.extend(string_map_problems(getattr(resources, label), f"spark_resources.{label}"))
    return found


def string_map_problems(mapping: object, label: str) -> list[str]:
    """A str -> str mapping that Airflow's templating leaves as it is."""
    if not isinstance(mapping, Mapping):
        return [f"{label} must be a mapping of strings to strings, not {type(mapping).__name__}"]
    found = []
    for key, value in mapping.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            found.append(f"{label}: {key!r}: {value!r} is not a pair of non-empty key and string")
        elif any(mark in key + value for mark in _JINJA_MARKS):
            found.append(
                f"{label}: {key!r} holds a Jinja marker ({{{{, {{% or {{#), which Airflow would "
                "render; remove it"
            )
    return found


def instance_problems(counts: Sequence[int], names: Sequence[str]) -> list[str]:
    """Initial, min and max executor counts that fit together; `names` say where each came from."""
    (initial, minimum, maximum), (initial_name, min_name, max_name) = counts, names
    if minimum > maximum:
        return [
            f"{min_name}={minimum} is above {max_name}={maximum}; raise the max or lower the min"
        ]
    if not minimum <= initial <= maximum:
        return [
            f"{initial_name}={initial} is outside [{min_name}={minimum}, {max_name}={maximum}]; "
            "choose an initial count between min and max"
        ]
    return []
