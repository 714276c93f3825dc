"""The result document a task run leaves for Airflow's XCom and for downstream tasks."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from processing_core.errors import ProcessingCoreError
from processing_core.masking import mask_data

if TYPE_CHECKING:
    from pathlib import Path

# skipped: the task's complete() said its work was already done.
Status = Literal["success", "skipped", "failed", "terminated"]
# Results travel through XCom and, for downstream tasks, through command-line arguments
# (Linux caps one argument at 128 KiB); data belongs in storage, its location in outputs.
MAX_RESULT_BYTES = 64 * 1024
# A failure's message is for people; its whole traceback is in the log.
MAX_MESSAGE_CHARACTERS = 4000


class ResultPathError(ProcessingCoreError):
    """--result-path (or RESULT_PATH) names a place no result can be written."""


@dataclass(frozen=True)
class TaskResult:
    status: Status
    message: str
    outputs: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    # Asset name -> extra of its asset event (only in results of tasks that produce assets).
    asset_extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        document = mask_data(asdict(self))
        if not document["asset_extra"]:
            del document["asset_extra"]
        message = document["message"]
        if len(message) > MAX_MESSAGE_CHARACTERS:
            document["message"] = message[: MAX_MESSAGE_CHARACTERS - 20] + " ... (see the log)"
        return json.dumps(document, sort_keys=True, allow_nan=False, separators=(",", ":"))


def check_json(value: object, what: str) -> int:
    """The size of `value` as JSON; TypeError names the first key JSON cannot carry."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, not {type(value).__name__}")
    problem = _first_non_json(value, what)
    if problem:
        raise TypeError(
            f"{problem}; results hold only JSON values (str, int, float, bool, None, lists, "
            "and dicts with str keys; no NaN or infinity)"
        )
    return len(json.dumps(value, allow_nan=False).encode())


# Deeper than any result needs; deeper data is refused before json could recurse too far.
MAX_DEPTH = 64


def _first_non_json(value: object, where: str, depth: int = 0) -> str | None:
    """`where[key]... is <what>` for the first value JSON cannot carry, or None."""
    if depth > MAX_DEPTH:
        return f"{where} is nested too deeply (or contains itself)"
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value!r}"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the key {key!r}, which is not a str"
            problem = _first_non_json(item, f"{where}[{key!r}]", depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = _first_non_json(item, f"{where}[{index}]", depth + 1)
            if problem:
                return problem
        return None
    return f"{where} is of type {type(value).__name__}"


def check_result(
    outputs: object,
    metrics: object,
    task_name: str,
    asset_extra: object = None,
    produced: Sequence[str] = (),
) -> None:
    """Raise if the outputs, metrics and asset extra cannot travel as a result (not JSON, too
    large, or extra for an asset the task does not produce)."""
    size = check_json(outputs, f"{task_name}.outputs") + check_json(metrics, f"{task_name}.metrics")
    if asset_extra:
        size += check_json(asset_extra, f"{task_name}.asset_extra")
        assert isinstance(asset_extra, Mapping)  # check_json said so
        unknown = sorted(set(asset_extra) - set(produced))
        if unknown:
            raise ValueError(
                f"{task_name}.asset_extra names {unknown}, which the task does not produce; "
                f"its assets are {list(produced)}"
            )
        for name, extra in asset_extra.items():
            if not isinstance(extra, Mapping):
                raise TypeError(
                    f"{task_name}.asset_extra[{name!r}] must be a dict, not {type(extra).__name__}"
                )
    if size > MAX_RESULT_BYTES:
        raise ValueError(
            f"{task_name}.outputs, .metrics and .asset_extra are {size} bytes of JSON; a result "
            f"may hold {MAX_RESULT_BYTES}. Write large data to storage and put its location in "
            "outputs"
        )


class ResultChannel:
    """Where a run's result goes: a file (written atomically), standard output, or nowhere.

    For standard output (`-`) the channel keeps its own copy of descriptor 1, taken before
    the task runs, so a task that closes or replaces `sys.stdout` cannot take the result's
    way out. Checked at once: a path no result can reach fails the run before the task.
    """

    def __init__(self, destination: str | None) -> None:
        self.destination = destination
        self.path: Path | None = None
        self._descriptor: int | None = None
        if destination == "-":
            self._descriptor = os.dup(sys.stdout.fileno())
        elif destination is not None:
            from pathlib import Path  # only runs that write a result file pay for it

            self.path = Path(destination)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ResultPathError(
                    f"--result-path {destination}: its folder cannot be created "
                    f"({error.strerror}: {error.filename}); pass a path in a writable folder"
                ) from None
            if self.path.is_dir():
                raise ResultPathError(f"--result-path {destination} is a folder; pass a file path")

    @property
    def on_stdout(self) -> bool:
        return self._descriptor is not None

    def write(self, result: TaskResult) -> None:
        """Write the result; OSError if it cannot (nothing half-written is left)."""
        text = result.to_json()
        if self.path is not None:
            from processing_core.fileops import atomic_write

            atomic_write(self.path, text.encode())
        elif self._descriptor is not None:
            # Whatever the task printed goes first, and the result is a line of its own even
            # after an unterminated print: the BashOperator pushes the last line.
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            data = ("\n" + text + "\n").encode()
            while data:
                data = data[os.write(self._descriptor, data) :]

    def close(self) -> None:
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self._descriptor)
            self._descriptor = None
