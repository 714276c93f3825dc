"""`processing-core run --json`: one JSON document for everything a command ran.

    {"schema": "processing-core/local-run/1", "succeeded": false, "runs": [
      {"workflow": ..., "version": ..., "dag_id": ..., "run_id": ..., "folder": ...,
       "state": "success" | "failed" | "interrupted", "logical_date": ..., "run_type": ...,
       "started_at": ..., "ended_at": ..., "seconds": 12.3, "parameters": {...},
       "tasks": {"calibrate": {"state": ..., "try_number": 1, "exit_code": 0,
                               "seconds": 3.2, "message": ..., "result": {...}}}}]}

A tool that wraps a workflow (JSON in, JSON out) reads it instead of the run folder. A run's
`state` is its folder's as a whole (a task of an earlier try that failed and was not rerun
counts); a command that stopped before a run could start adds `"error": "..."`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from processing_core.local.dates import RunDates
from processing_core.local.run_folder import FINISHED, RunFolder

SCHEMA = "processing-core/local-run/1"


def run_entry(
    folder: RunFolder, *, began: float, ended: float, interrupted: bool
) -> dict[str, Any]:
    """What one run left: its identity, dates, timings, and each task's state and result."""
    summary = folder.summary
    tasks: dict[str, Any] = {}
    for key, record in summary.tasks.items():
        entry = asdict(record)
        if record.instances is None:  # drop what only a mapped node has
            entry.pop("instances")
            entry.pop("items_digest")
        if not record.label:
            entry.pop("label")
        entry["result"] = folder.result(key) if record.instances is None else None
        tasks[key] = entry
    states = [record.state for record in summary.tasks.values()]
    state = (
        "interrupted"
        if interrupted
        else ("success" if all(s in FINISHED for s in states) else "failed")
    )
    return {
        "workflow": summary.workflow,
        "version": summary.version,
        "dag_id": summary.dag_id,
        "run_id": summary.run_id,
        "folder": str(folder.path.resolve()),
        "state": state,
        **RunDates.from_data(summary.dates).data(),
        "started_at": _iso(began),
        "ended_at": _iso(ended),
        "seconds": round(ended - began, 3),
        "parameters": summary.parameters,
        "tasks": tasks,
    }


def document(runs: list[dict[str, Any]], error: str | None = None) -> dict[str, Any]:
    """The whole document; `error`: why the command stopped before (another) run started."""
    whole: dict[str, Any] = {
        "schema": SCHEMA,
        "succeeded": error is None and bool(runs) and all(r["state"] == "success" for r in runs),
        "runs": runs,
    }
    if error is not None:
        whole["error"] = error
    return whole


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
