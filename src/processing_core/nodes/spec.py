"""Operator data: what a DAG file says, as plain values, rendered to text or built in memory.

Values are JSON-like (None, bool, int, float, str, list, dict with str keys) plus `Call`,
a constructor to import and call (`datetime:timedelta`, a provider's `Secret`, a Kubernetes
model). Nothing here is ever evaluated from a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """`target(*args, **kwargs)`, where target is `module:attribute[.attribute]`."""

    target: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def attribute(self) -> str:
        return self.target.partition(":")[2]


@dataclass(frozen=True)
class OperatorSpec:
    """One Airflow task: the operator's import path and its keyword arguments."""

    task_id: str
    operator: str
    kwargs: Mapping[str, Any]


@dataclass(frozen=True)
class DagSpec:
    """One DAG file: the DAG's keyword arguments, its tasks in order and its edges."""

    dag_id: str
    workflow_name: str
    version: str
    target: str
    dag_kwargs: Mapping[str, Any]
    tasks: tuple[OperatorSpec, ...]
    # (upstream task id, downstream task id), in task order.
    edges: tuple[tuple[str, str], ...]
