"""Stable import path of what generated DAG files call (an alias of
`processing_core.airflow.callbacks`, where the code lives).

Every DAG file processing-core ever exported imports `processing_core.airflow_callbacks`,
and keeps running on a deployment's newer processing-core: this path is public API. Standard
library only at import, as the modules it names (the scheduler parses DAG files constantly).
`run_late` is the AsyncCallback of a workflow's deadlines (see processing_core.airflow.deadlines).

`PodIdentityGuard` (KubernetesPodOperators' `callbacks=`) is imported on first use: it needs
the Kubernetes provider, which the DAG files naming it import anyway. `ForeachItems` (the list
task of a mapped node) too: it is an operator, so it needs Airflow's Task SDK.
"""

from processing_core.airflow import callbacks as _callbacks
from processing_core.airflow.callbacks import (
    ImportedCallback,
    ResultHook,
    RunValuesHook,
    StatusCallback,
    asset_template_filters,
    failed_tasks,
    rabbitmq_trigger,
    run_late,
    template_filters,
    termination_reason,
)

__all__ = [
    "ImportedCallback",
    "ResultHook",
    "RunValuesHook",
    "StatusCallback",
    "asset_template_filters",
    "failed_tasks",
    "rabbitmq_trigger",
    "run_late",
    "template_filters",
    "termination_reason",
]


def __getattr__(name: str) -> object:
    return getattr(_callbacks, name)
