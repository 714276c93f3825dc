"""Fan-out: a node run once per element of a list an upstream task outputs (`add_node(...,
foreach="split.frames")`), decided at run time; its downstream tasks get the instances'
results as one list, in map order (fan-in).

One module for what every target shares: the reference's syntax, the checks of the list a
run produced, and the readable name of an instance. Stdlib only at import time (jinja2 is
imported when a `map_index_template` is rendered).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Airflow's own default of `[core] max_map_length`; a node may lower it, never raise it past
# the deployment's (the list's task then fails saying which limit it met).
DEFAULT_MAX_MAP_LENGTH = 1024
# An instance's name in the UI (Airflow stores up to 250 characters; a name is for reading).
LABEL_MAX = 64
TEMPLATE_MAX = 1000
_REFERENCE_RE = re.compile(
    r"^(?P<task>[A-Za-z][A-Za-z0-9_]*)\.(?P<output>[A-Za-z_][A-Za-z0-9_]*)\Z"
)


class ForeachError(ValueError):
    """The list a mapped node runs over is missing, not a list, or too long."""


@dataclass(frozen=True)
class Foreach:
    """What a mapped node runs over: output `output` of upstream task `task_id`."""

    task_id: str
    output: str
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH
    # A Jinja template of the instance's name, over `item` and `map_index`.
    map_index_template: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.task_id}.{self.output}"

    @property
    def items_task_id(self) -> str:
        """The Airflow task that hands the list's length to the scheduler. A '-' is in no
        task id of ours (letters, digits, '_'), so it never meets an author's."""
        return f"{self.task_id}-{self.output}"

    def data(self) -> dict[str, Any]:
        """As `run-task --foreach` and the list's Airflow task take it (JSON-safe)."""
        found: dict[str, Any] = {
            "task": self.task_id,
            "output": self.output,
            "max_map_length": self.max_map_length,
        }
        if self.map_index_template is not None:
            found["map_index_template"] = self.map_index_template
        return found

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Foreach:
        return cls(
            task_id=str(data["task"]),
            output=str(data["output"]),
            max_map_length=int(data.get("max_map_length", DEFAULT_MAX_MAP_LENGTH)),
            map_index_template=data.get("map_index_template"),
        )


def parse_reference(reference: object) -> tuple[str, str] | str:
    """(task id, output) of `"task.output"`, or the problem with it."""
    found = _REFERENCE_RE.fullmatch(reference) if isinstance(reference, str) else None
    if found is None:
        return (
            f"foreach={reference!r} is not '<upstream task id>.<output name>', e.g. "
            "foreach='split.frames'"
        )
    return found["task"], found["output"]


def max_map_length_problems(value: object, where: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return [f"{where} {value!r} must be a whole number >= 1"]
    return []


def template_problems(template: object) -> list[str]:
    """A map_index_template must be a short Jinja text that parses."""
    if not isinstance(template, str) or not template.strip() or len(template) > TEMPLATE_MAX:
        return [
            f"map_index_template {template!r} must be a Jinja text of at most {TEMPLATE_MAX} "
            "characters, e.g. '{{ item.file }}'"
        ]
    try:
        _environment().parse(template)
    except Exception as error:
        return [f"map_index_template {template!r} does not parse as Jinja: {error}"]
    return []


def items_of(
    outputs: Mapping[str, Any] | None,
    foreach: Foreach,
    mapped: str | Sequence[str],
    limit: int | None = None,
) -> list[Any]:
    """The list `foreach` names, from its upstream's outputs; ForeachError naming the tasks,
    the output and the fix when it is missing, not a list, or longer than max_map_length or
    `limit` (the deployment's). `mapped`: the id of the task mapped over it (or the ids of
    several), for the message."""
    names = [mapped] if isinstance(mapped, str) else list(mapped)
    task = " and ".join(repr(name) for name in names)
    where = f"task {task} runs once per element of {foreach.reference!r}"
    if outputs is None:
        raise ForeachError(f"{where}, but task {foreach.task_id!r} left no result")
    if foreach.output not in outputs:
        raise ForeachError(
            f"{where}, but task {foreach.task_id!r} did not output {foreach.output!r} (its "
            f"outputs: {sorted(outputs)}); set self.outputs[{foreach.output!r}] to a list in "
            "its run()"
        )
    value = outputs[foreach.output]
    if not isinstance(value, list):
        raise ForeachError(
            f"{where}, but task {foreach.task_id!r} output {foreach.output!r} as a "
            f"{type(value).__name__}, not a list; output a JSON list"
        )
    # Whichever limit is lower holds, and the message names it and how to raise it.
    most, which, raise_it = (
        foreach.max_map_length,
        "max_map_length",
        "raise max_map_length (add_node or Workflow)",
    )
    if limit is not None and limit < most:
        most, which, raise_it = (
            limit,
            "the deployment's [core] max_map_length",
            "ask for a higher [core] max_map_length",
        )
    if len(value) > most:
        raise ForeachError(
            f"{where}, but {foreach.reference!r} has {len(value)} elements, more than "
            f"{which} ({most}); split the work into fewer, larger elements, or {raise_it}"
        )
    return value


def result_outputs(document: object) -> Mapping[str, Any] | None:
    """The outputs of a task's result document (what XCom or a run folder holds), or None
    when it is not one."""
    outputs = document.get("outputs") if isinstance(document, Mapping) else None
    return outputs if isinstance(outputs, Mapping) else None


def item_at(outputs: Mapping[str, Any] | None, foreach: Foreach, task_id: str, index: int) -> Any:
    """The element instance `index` of mapped task `task_id` runs on."""
    items = items_of(outputs, foreach, task_id)
    if not 0 <= index < len(items):
        raise ForeachError(
            f"task {task_id!r} instance {index} has no element: {foreach.reference!r} has "
            f"{len(items)}"
        )
    return items[index]


def map_label(item: Any, map_index: int, template: str | None = None) -> str:
    """An instance's readable name: `template` rendered over `item` and `map_index`, else the
    element itself (text or JSON); one line of at most LABEL_MAX characters. Never fails: a
    template that does not render gives the default."""
    text = None
    if template is not None:
        try:
            text = _environment().from_string(template).render(item=item, map_index=map_index)
        except Exception:
            text = None
    if not text or not text.strip():
        text = _default_label(item, map_index)
    text = " ".join(text.split())
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _default_label(item: Any, map_index: int) -> str:
    if isinstance(item, str) and item.strip():
        return item
    if isinstance(item, bool) or item is None:
        return str(map_index)
    if isinstance(item, int | float):
        return str(item)
    try:
        return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(map_index)


def _environment() -> Any:
    # A sandbox: the template is the author's, the element comes from a run.
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(autoescape=False)


def foreach_problems(
    foreach: Foreach, upstream_ids: Sequence[str], declared_outputs: Sequence[str] | None
) -> list[str]:
    """What is wrong with a node's foreach in its workflow: the task must be one of the node's
    upstreams and declare the output."""
    if foreach.task_id not in upstream_ids:
        return [
            f"foreach={foreach.reference!r} names task {foreach.task_id!r}, which is not an "
            f"upstream of this task (its upstreams: {list(upstream_ids)}); add it to upstreams="
        ]
    if declared_outputs is None:
        return []
    if foreach.output not in declared_outputs:
        return [
            f"foreach={foreach.reference!r} names output {foreach.output!r}, which task "
            f"{foreach.task_id!r} does not declare (its declared outputs: "
            f"{list(declared_outputs)}); add {foreach.output!r} to its class's "
            "declared_outputs"
        ]
    return []
