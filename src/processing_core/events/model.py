"""The status event: one JSON document per task (or run) transition, versioned.

`schema_version` changes when a field is removed or changes meaning. New kinds and new
optional fields are added within a version (`run.late` and `deadline` were): a consumer
ignores the kinds and fields it does not know.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1


class EventKind(StrEnum):
    """What happened; also the AMQP routing key, so consumers bind to what they need."""

    TASK_STARTED = "task.started"
    TASK_SUCCEEDED = "task.succeeded"
    # complete() found the work done: the task did not run; its outputs are what it recorded.
    TASK_SKIPPED = "task.skipped"
    TASK_FAILED = "task.failed"
    TASK_RETRYING = "task.retrying"
    RUN_STARTED = "run.started"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    # The run had not finished by a deadline of its workflow (Workflow(deadline=...)).
    RUN_LATE = "run.late"


class EventError(BaseModel):
    """Why a task failed."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="The exception's class name, or the pod's termination reason.")
    message: str
    traceback_tail: str | None = Field(
        default=None, description="The last lines of the traceback, where there is one."
    )


class EventDeadline(BaseModel):
    """The deadline a late run missed."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The deadline's name, as Airflow's Deadlines page shows it.")
    time: datetime = Field(description="When the run was due.")


class StatusEvent(BaseModel):
    """A task or run transition. Consumers drop duplicates by `event_id`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(
        default_factory=lambda: str(uuid.uuid4()),
        description="Unique id, also the AMQP message_id.",
    )
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    kind: EventKind
    source: Literal["task", "airflow"] = Field(
        description="`task`: the entrypoint in the pod; `airflow`: a callback of Airflow's, "
        "which also sees failures the task never reached (OOMKilled, image pull, eviction)."
    )
    workflow_name: str
    workflow_version: str
    dag_id: str | None = None
    run_id: str
    task_id: str | None = None
    try_number: int | None = None
    map_index: int | None = Field(
        default=None,
        description="The instance of a mapped task (add_node(foreach=...)): its position in "
        "the list; none for a task that is not mapped.",
    )
    trace_id: str | None = None
    outputs: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    error: EventError | None = None
    log_url: str | None = None
    deadline: EventDeadline | None = Field(
        default=None, description="`run.late`: the deadline the run missed."
    )

    @property
    def routing_key(self) -> str:
        return self.kind.value

    def body(self) -> bytes:
        return self.model_dump_json().encode()


def event_json_schema() -> str:
    """The JSON Schema of a status event's body."""
    return json.dumps(StatusEvent.model_json_schema(), indent=2, sort_keys=True)
