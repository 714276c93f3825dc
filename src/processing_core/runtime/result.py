"""The result document a task run leaves for Airflow's XCom and for downstream tasks."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["success", "failed", "terminated"]
# Results travel through XCom and, for downstream tasks, through command-line arguments
# (Linux caps one argument at 128 KiB); data belongs in storage, its location in outputs.
MAX_RESULT_BYTES = 64 * 1024


@dataclass(frozen=True)
class TaskResult:
    status: Status
    message: str
    outputs: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, allow_nan=False, separators=(",", ":"))


def check_json(value: object, what: str) -> int:
    """The size of `value` as JSON; TypeError names what JSON cannot carry."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, not {type(value).__name__}")
    try:
        return len(json.dumps(value, allow_nan=False).encode())
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{what} must hold only JSON values (str, int, float, bool, None, list, dict): {error}"
        ) from None


def check_result(outputs: object, metrics: object, task_name: str) -> None:
    """Raise if the outputs and metrics cannot travel as a result (not JSON, or too large)."""
    size = check_json(outputs, f"{task_name}.outputs") + check_json(metrics, f"{task_name}.metrics")
    if size > MAX_RESULT_BYTES:
        raise ValueError(
            f"{task_name}.outputs and .metrics are {size} bytes of JSON; a result may hold "
            f"{MAX_RESULT_BYTES}. Write large data to storage and put its location in outputs"
        )


def write_result(result: TaskResult, destination: str | None) -> None:
    """Write the result to a file (atomically) or, for `-`, as the last line of stdout."""
    if destination is None:
        return
    text = result.to_json()
    if destination == "-":
        # On a line of its own even if the task printed without a final newline: the
        # BashOperator pushes the last line to XCom.
        sys.stdout.write("\n" + text + "\n")
        sys.stdout.flush()
        return
    path = Path(destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a reader (the XCom sidecar) never sees half a document.
    descriptor, staging = tempfile.mkstemp(prefix=".result-", dir=path.parent)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(staging, path)
