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


@dataclass(frozen=True)
class TaskResult:
    status: Status
    message: str
    outputs: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, allow_nan=False, separators=(",", ":"))


def check_json(value: object, what: str) -> None:
    """Raise TypeError naming the first value in `value` that JSON cannot carry."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, not {type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{what} must hold only JSON values (str, int, float, bool, None, list, dict): {error}"
        ) from None


def write_result(result: TaskResult, destination: str | None) -> None:
    """Write the result to a file (atomically) or, for `-`, as the last line of stdout."""
    if destination is None:
        return
    text = result.to_json()
    if destination == "-":
        sys.stdout.flush()
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    path = Path(destination)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a reader (the XCom sidecar) never sees half a document.
    descriptor, staging = tempfile.mkstemp(prefix=".result-", dir=path.parent)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(staging, path)
