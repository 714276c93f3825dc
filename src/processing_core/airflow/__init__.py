"""Airflow's side of processing-core: everything that runs inside Airflow's own processes,
and the only package of the library that imports Airflow (tests/test_architecture.py keeps
it so). Installed with the `[airflow]` extra; the pipeline image never imports it.

- `callbacks`: what generated DAG files call (status callbacks, the task hooks, the asset
  template filter, the RabbitMQ trigger's factory); `assets`: a task's asset events;
  `large_values`: run values too large for one argument; `spark_submit`: the local target's
  Spark operator.
- `dag`: `to_dag(workflow)`, a workflow's DAG in memory; `dagbag`: what Airflow's parser
  says of a folder of DAG files (`verify`, the testing helpers).
- `bundle` (the artifact-repository DAG bundle) and `repository_fetch` (its bounded GETs);
  `triggers` (the triggerer's RabbitMQ trigger); `plugin`, `queue_listener` and
  `asset_queue` (the scheduler's repair of stranded asset events); `metadata` (what
  Airflow's metadata database says of runs in progress).

Stable import paths that generated DAG files name, kept as thin aliases of the modules here
(public API: every DAG file ever exported keeps running): `processing_core.airflow_callbacks`,
`processing_core.airflow_spark_submit`, `processing_core.airflow_assets`, and
`processing_core.airflow.triggers.RabbitMQMessageTrigger` (the triggerer stores its path).
"""

from __future__ import annotations

from typing import Any

__all__ = ["to_dag"]


def __getattr__(name: str) -> Any:
    # Lazily: a DAG file imports `callbacks` through this package and must not pay for more.
    if name == "to_dag":
        from processing_core.airflow.dag import to_dag

        return to_dag
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
