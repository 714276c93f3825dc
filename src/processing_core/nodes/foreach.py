"""The list task of a mapped node: on every target an operator of ours on the Airflow worker
(it only reads an XCom), `processing_core.airflow_callbacks:ForeachItems`."""

from __future__ import annotations

from processing_core.definition.foreach import Foreach
from processing_core.definition.workflow import Workflow
from processing_core.nodes.common import status_callback
from processing_core.nodes.spec import OperatorSpec

OPERATOR = "processing_core.airflow_callbacks:ForeachItems"


def items_operator(workflow: Workflow, version: str, foreach: Foreach) -> OperatorSpec:
    over = {
        node.task_id: node.foreach
        for node in workflow.nodes
        if node.foreach is not None and node.foreach.items_task_id == foreach.items_task_id
    }
    mapped = sorted(over)
    # Nodes mapped over one list share its task: the strictest of their limits holds.
    limit = min(found.max_map_length for found in over.values())
    return OperatorSpec(
        task_id=foreach.items_task_id,
        operator=OPERATOR,
        kwargs={
            "task_id": foreach.items_task_id,
            "task_display_name": f"{foreach.reference} (list)",
            "foreach": {
                "task": foreach.task_id,
                "output": foreach.output,
                "max_map_length": limit,
            },
            "mapped_task_ids": mapped,
            "retries": 0,
            "on_failure_callback": status_callback("task.failed", workflow.name, version),
            "doc_md": (
                f"The list `{foreach.reference}`: one instance of "
                + ", ".join(f"`{task_id}`" for task_id in mapped)
                + " per element."
            ),
        },
    )
