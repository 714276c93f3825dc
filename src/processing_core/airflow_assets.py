"""Stable import path (an alias of `processing_core.airflow.assets`, where the code lives):
DAG files of earlier releases, and code written against them, may name it. Public API."""

from processing_core.airflow.assets import (
    MAX_ASSET_EVENTS_BYTES,
    asset_events_json,
    record_asset_events,
    template_filters,
)

__all__ = ["MAX_ASSET_EVENTS_BYTES", "asset_events_json", "record_asset_events", "template_filters"]
