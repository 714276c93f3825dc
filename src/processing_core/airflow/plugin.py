"""processing-core's Airflow plugin: found by Airflow through the `airflow.plugins` entry
point wherever `processing-core[airflow]` is installed, it registers the listener that keeps
asset events from waiting forever (processing_core.airflow.queue_listener). ASSET_QUEUE_REPAIR
says for which DAGs (`off` for none)."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from processing_core.airflow import queue_listener


class ProcessingCorePlugin(AirflowPlugin):
    name = "processing_core"
    listeners: list[Any] = [queue_listener]  # noqa: RUF012 - AirflowPlugin's own attribute
