"""One task of a workflow (TaskNode) and the per-node overrides of its class's declarations:
what the node adapters read, apart from the Workflow that assembles the nodes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processing_core.definition.foreach import Foreach
from processing_core.definition.task import TaskBase

UpstreamRef = type[TaskBase] | str


@dataclass(frozen=True)
class TaskNode:
    """One task of a workflow: a class under a task id, with the references to its upstreams.

    `declared` is what Airflow and Kubernetes are told about the task: the class itself, or,
    when add_node overrides some of its declarations for this node, a subclass holding them
    (same module, name and docstring, so `run-task` still loads the class itself).
    """

    task_id: str
    task_class: type[TaskBase]
    upstream_refs: tuple[UpstreamRef, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    # Run once per element of an upstream's list output (add_node(foreach=...)).
    foreach: Foreach | None = None

    @property
    def declared(self) -> type[TaskBase]:
        if not self.overrides:
            return self.task_class
        return with_overrides(self.task_class, self.overrides)


def with_overrides(task: type[TaskBase], overrides: Mapping[str, Any]) -> type[TaskBase]:
    """`task` with some declarations replaced: a subclass of the same module, name and
    docstring (so `run-task` still finds and reports the class itself)."""
    namespace = {
        **overrides,
        "__module__": task.__module__,
        "__qualname__": task.__qualname__,
        "__doc__": task.__dict__.get("__doc__"),
    }
    return type(task.__name__, (task,), namespace)
