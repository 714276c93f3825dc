"""Airflow side of mapped nodes (add_node(foreach=...)): the task that hands the scheduler the
list's length, and the filter that names each instance in the UI.

A mapped node is `Operator.partial(...).expand_kwargs(<list task>.output)`: Airflow makes one
task instance per element of the list task's return value. The elements themselves reach the
instances through `run-task --inputs` (the upstream's result) and `--map-index`; the list
task returns one empty dict per element, so no instance argument comes from an XCom.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator

from processing_core.definition.foreach import (
    Foreach,
    ForeachError,
    items_of,
    map_label,
    result_outputs,
)


class ForeachItems(BaseOperator):
    """The list a mapped node runs over, checked: one empty dict per element (the mapped
    node's instances); fails naming the tasks, the output and the fix when the upstream's
    output is missing, not a list, or longer than max_map_length or Airflow's own
    `[core] max_map_length`."""

    # What the Airflow UI shows as the operator.
    custom_operator_name = "List to map over"

    ui_color = "#e8f0fe"

    def __init__(
        self, *, foreach: Mapping[str, Any], mapped_task_ids: Sequence[str], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.foreach = dict(foreach)
        self.mapped_task_ids = list(mapped_task_ids)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from airflow.sdk.exceptions import AirflowFailException

        foreach = Foreach.from_data(self.foreach)
        outputs = result_outputs(context["ti"].xcom_pull(task_ids=foreach.task_id))
        try:
            items = items_of(outputs, foreach, self.mapped_task_ids, limit=_airflow_limit())
        except ForeachError as error:
            # No retry can change an upstream's result: fail at once.
            raise AirflowFailException(str(error)) from None
        self.log.info(
            "%s has %d elements: %s %s",
            foreach.reference,
            len(items),
            " and ".join(self.mapped_task_ids),
            "is skipped" if not items else f"runs {len(items)} instances",
        )
        return [{} for _ in items]


def _airflow_limit() -> int | None:
    """The deployment's `[core] max_map_length`: Airflow refuses longer lists itself, in
    words that do not name the list."""
    try:
        from airflow.sdk.configuration import conf

        return conf.getint("core", "max_map_length")
    except Exception:
        return None


def map_label_filter(ti: Any, foreach: Mapping[str, Any]) -> str:
    """`{{ ti | processing_core_map_label({...}) }}`: the instance's name, from its element
    (definition.foreach.map_label); its map index whenever the element cannot be read."""
    index = getattr(ti, "map_index", -1)
    try:
        declared = Foreach.from_data(foreach)
        outputs = result_outputs(ti.xcom_pull(task_ids=declared.task_id))
        items = items_of(outputs, declared, ti.task_id)
        return map_label(items[index], index, declared.map_index_template)
    except Exception:
        return str(index)


def template_filters() -> dict[str, Any]:
    """The Jinja filters of a DAG with a mapped node: the instance names, and the assets'."""
    from processing_core.airflow.assets import template_filters as asset_filters

    return {**asset_filters(), "processing_core_map_label": map_label_filter}
