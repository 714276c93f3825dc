"""Build the Airflow DAG of a DagSpec in memory: import each named constructor and call it."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from processing_core.nodes.spec import Call, DagSpec

if TYPE_CHECKING:
    from airflow.sdk import DAG


def resolve(target: str) -> Any:
    """The object `module:attribute[.attribute]` names."""
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def materialise(value: Any) -> Any:
    if isinstance(value, Call):
        return resolve(value.target)(
            *(materialise(arg) for arg in value.args),
            **{key: materialise(item) for key, item in value.kwargs.items()},
        )
    if isinstance(value, list | tuple):
        return [materialise(item) for item in value]
    if isinstance(value, Mapping):
        return {key: materialise(item) for key, item in value.items()}
    return value


def build_dag(spec: DagSpec) -> DAG:
    from airflow.sdk import DAG

    with DAG(**materialise(spec.dag_kwargs)) as dag:
        operators = {
            task.task_id: resolve(task.operator)(**materialise(task.kwargs)) for task in spec.tasks
        }
        for upstream, downstream in spec.edges:
            operators[upstream] >> operators[downstream]
    return dag
