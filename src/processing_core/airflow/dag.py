"""A workflow's Airflow DAG in memory, built from the same data its DAG file renders.

`to_dag(workflow)` validates and turns the workflow into DAG data (nodes/dag.py), then
imports each constructor the data names and calls it: no text is generated or evaluated. For
authors' and this library's tests, and `verify`-like checks; a deployment parses the files.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from processing_core.nodes.spec import Call, DagSpec, Name

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from processing_core.config import Settings
    from processing_core.definition.workflow import Workflow


def to_dag(
    workflow: Workflow,
    target: str = "kubernetes",
    *,
    version: str | None = None,
    image: str | None = None,
    settings: Settings | None = None,
) -> DAG:
    """Build `workflow`'s Airflow DAG in memory, as export would write it for `target`;
    WorkflowDefinitionError says what is wrong with a workflow export would refuse."""
    from processing_core.extras import require
    from processing_core.nodes.dag import ExportOptions, build_dag_spec

    require("airflow", "to_dag()")
    options = ExportOptions.create(target=target, version=version, image=image, settings=settings)
    return build_dag(build_dag_spec(workflow, options))


def resolve(target: str) -> Any:
    """The object `module:attribute[.attribute]` names."""
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def materialise(value: Any, once: dict[str, Any] | None = None) -> Any:
    """The objects `value` describes; a call marked `once` is built once per `once` cache
    (one DAG), as the DAG file builds it once."""
    if once is None:
        once = {}
    if isinstance(value, Call):
        if value.once and value.target in once:
            return once[value.target]
        built = resolve(value.target)(
            *(materialise(arg, once) for arg in value.args),
            **{key: materialise(item, once) for key, item in value.kwargs.items()},
        )
        if value.once:
            once[value.target] = built
        return built
    if type(value) is Name:  # a Call is a Name too, handled above
        return resolve(value.target)
    if isinstance(value, list | tuple):
        return [materialise(item, once) for item in value]
    if isinstance(value, Mapping):
        return {key: materialise(item, once) for key, item in value.items()}
    return value


def build_dag(spec: DagSpec) -> DAG:
    from airflow.sdk import DAG

    once: dict[str, Any] = {}
    dag_kwargs = dict(spec.dag_kwargs)
    params = dag_kwargs.pop("params", None)
    with DAG(**materialise(dag_kwargs, once)) as dag:
        operators: dict[str, Any] = {}
        for task in spec.tasks:
            operator = resolve(task.operator)
            if task.expand_from is None:
                operators[task.task_id] = operator(**materialise(task.kwargs, once))
            else:  # one instance per element of the list task's return value
                partial = operator.partial(**materialise(task.kwargs, once))
                operators[task.task_id] = partial.expand_kwargs(operators[task.expand_from].output)
        for upstream, downstream in spec.edges:
            operators[upstream] >> operators[downstream]
    if params:  # after the tasks, as the DAG file sets them (render.dag_file.PARAMS_COMMENT)
        dag.params = materialise(params, once)
    return dag
