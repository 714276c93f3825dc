"""Airflow side of assets: what a generated DAG's tasks do with the assets they produce and
the asset events that triggered their run. Imported by DAG files; stdlib only at import.

- `record_asset_events` (called by ResultHook after a task succeeded) attaches the task's
  `asset_extra` to the events Airflow records for its outlets, and adds the event of each
  templated asset (an AssetAlias outlet) for the URI this run renders.
- `template_filters()` gives the DAG the `processing_core_asset_events` filter: the run's
  consumed asset events as JSON for `run-task --asset-events`, bounded in size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# A run triggered by many events still passes its arguments (Linux caps one at 128 KiB):
# the newest events that fit, and how many were left out.
MAX_ASSET_EVENTS_BYTES = 32 * 1024


def record_asset_events(
    context: Mapping[str, Any],
    document: Mapping[str, Any],
    assets: Sequence[Mapping[str, Any]],
    workflow_name: str,
    workflow_version: str,
) -> None:
    """Give each produced asset's event the extra the task reported for it."""
    from airflow.sdk import Asset, AssetAlias

    from processing_core.definition.assets import Asset as Declared
    from processing_core.definition.assets import template_values

    extras = document.get("asset_extra") or {}
    events = context["outlet_events"]
    for declared in assets:
        extra = dict(extras.get(declared["name"]) or {})
        if not declared.get("templated"):
            target = Asset(name=declared["name"], uri=declared["uri"], group=declared["group"])
            events[target].extra.update(extra)
            continue
        dag_run = context["dag_run"]
        date = context.get("logical_date") or dag_run.run_after
        values = template_values(
            workflow=workflow_name,
            version=workflow_version,
            dag_id=dag_run.dag_id,
            task_id=context["ti"].task_id,
            run_id=dag_run.run_id,
            date=date,
            parameters=context.get("params") or {},
        )
        uri = Declared(declared["uri"], declared["name"]).render(values)
        events[AssetAlias(name=declared["name"], group=declared["group"])].add(
            Asset(name=uri, uri=uri, group=declared["group"]), extra=extra
        )


def asset_events_json(dag_run: Any) -> str:
    """The run's consumed asset events, newest last, as `run-task --asset-events` reads
    them: {"events": [...], "omitted": n}. Jinja-safe (no `{` outside JSON syntax)."""
    from processing_core.jinja_safe import jinja_safe_json

    events = sorted(
        getattr(dag_run, "consumed_asset_events", None) or [],
        key=lambda event: str(getattr(event, "timestamp", "")),
    )
    kept: list[dict[str, Any]] = []
    size = 0
    for event in reversed(events):
        data = _event_data(event)
        size += len(json.dumps(data, default=str)) + 1
        if size > MAX_ASSET_EVENTS_BYTES:
            break
        kept.append(data)
    kept.reverse()
    return jinja_safe_json({"events": kept, "omitted": len(events) - len(kept)})


def _event_data(event: Any) -> dict[str, Any]:
    asset = event.asset
    timestamp = getattr(event, "timestamp", None)
    return {
        "name": asset.name,
        "uri": asset.uri,
        "extra": json.loads(json.dumps(dict(event.extra or {}), default=str)),
        "timestamp": timestamp.isoformat() if isinstance(timestamp, datetime) else timestamp,
        "source_dag_id": event.source_dag_id,
        "source_run_id": event.source_run_id,
        "source_task_id": event.source_task_id,
    }


def template_filters() -> dict[str, Any]:
    """The Jinja filters a DAG with an asset schedule renders its tasks' arguments with."""
    return {"processing_core_asset_events": asset_events_json}
