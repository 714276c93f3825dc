"""Operator data: what a DAG file says, as plain values, rendered to text or built in memory.

Values are JSON-like (None, bool, int, float, str, list, dict with str keys) plus `Call`,
a constructor to import and call (`datetime:timedelta`, a provider's `Secret`, a Kubernetes
model), and `Name`, an object to import and use as it is (`DeadlineReference.DAGRUN_QUEUED_AT`).
Nothing here is ever evaluated from a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Name:
    """The object `module:attribute[.attribute]` names, used as it is (not called)."""

    target: str

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def attribute(self) -> str:
        return self.target.partition(":")[2]


@dataclass(frozen=True)
class Call(Name):
    """`target(*args, **kwargs)`: the object `target` names, called."""

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    # Built once per DAG file (a module constant named after it) and shared by every use,
    # wherever it appears: an object that is costly to build and never changed by its users.
    once: bool = False


@dataclass(frozen=True)
class OperatorSpec:
    """One Airflow task: the operator's import path and its keyword arguments."""

    task_id: str
    operator: str
    kwargs: Mapping[str, Any]
    # A mapped task: the task whose return value (a list) makes one instance per element,
    # `Operator.partial(**kwargs).expand_kwargs(<that task>.output)`.
    expand_from: str | None = None
    # The provider's operator (`module:class`) that `operator` extends. The DAG file imports
    # it by name: the dag-processor imports the `airflow.*` modules a file names once, before
    # it forks a process to parse the file, so the provider is not imported again per parse.
    provider: str | None = None


@dataclass(frozen=True)
class DagSpec:
    """One DAG file: the DAG's keyword arguments, its tasks in order and its edges."""

    dag_id: str
    workflow_name: str
    version: str
    target: str
    dag_kwargs: Mapping[str, Any]
    tasks: tuple[OperatorSpec, ...]
    # (upstream task id, downstream task id), in task order.
    edges: tuple[tuple[str, str], ...]


# Deeper than any operator argument needs; bounds the renderer's recursion.
MAX_DEPTH = 32


def plain_data(value: Any, where: str) -> Any:
    """`value` as exact built-in types (and Calls), or ValueError naming `where` and the fix.

    A DAG file holds literals written by repr(): a `str` subclass with its own `__repr__`,
    an enum or a NumPy scalar would write code that runs (or fails) when the scheduler parses
    the file. Their plain values are taken here, at export, where the author's code runs
    anyway: enums by `.value`, subclasses of str/int/float by the base type, other numbers by
    int()/float(). Anything else is refused.
    """
    return _plain(value, where, 0)


# Where a value sits (`argument 'env_vars'[0].value`): a chain of (parent, style, key), made
# text only for an error. Formatting it for every value of every task was a fifth of an
# export's time.
_Where = str | tuple["_Where", str, Any]
_AS_IS = (bool, int, str, Name)


def _where_text(where: _Where) -> str:
    parts = []
    while not isinstance(where, str):
        where, style, key = where
        parts.append(f".{key}" if style == "." else f"[{key!r}]")
    return where + "".join(reversed(parts))


def _plain(value: Any, where: _Where, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(
            f"{_where_text(where)}: nested more than {MAX_DEPTH} levels deep; flatten it"
        )
    kind = type(value)
    # Exact built-in types first: nearly every value is one, and the checks below that
    # follow (enum, numbers' abstract classes) cost far more than a type's identity.
    if value is None or kind in _AS_IS:
        return value
    if kind is dict:
        return _plain_mapping(value, where, depth)
    if kind is list or kind is tuple:
        return _plain_sequence(value, where, depth)
    if kind is Call:
        return _plain_call(value, where, depth)
    return _plain_other(value, where, depth)


def _plain_mapping(value: Mapping[Any, Any], where: _Where, depth: int) -> dict[str, Any]:
    return {
        _plain_key(key, where): _plain(item, (where, "[", key), depth + 1)
        for key, item in value.items()
    }


def _plain_sequence(value: list[Any] | tuple[Any, ...], where: _Where, depth: int) -> list[Any]:
    return [_plain(item, (where, "[", i), depth + 1) for i, item in enumerate(value)]


def _plain_call(call: Call, where: _Where, depth: int) -> Call:
    return Call(
        call.target,
        tuple(_plain(arg, where, depth + 1) for arg in call.args),
        {
            _plain_key(key, where): _plain(item, (where, ".", key), depth + 1)
            for key, item in call.kwargs.items()
        },
        once=call.once,
    )


def _plain_other(value: Any, where: _Where, depth: int) -> Any:
    """What is not an exact built-in type: its plain value, or ValueError."""
    import enum
    import math
    import numbers
    import operator

    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(
                f"{_where_text(where)}: {value!r} cannot be written to a DAG file; use a number"
            )
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value, where, depth + 1)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):  # bool cannot be subclassed; here for completeness
        return bool(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return _plain(float.__float__(value), where, depth + 1)
    if isinstance(value, numbers.Integral):
        return _plain(operator.index(value), where, depth + 1)
    if isinstance(value, numbers.Real):
        return _plain(float(value), where, depth + 1)
    if isinstance(value, Call):
        return _plain_call(value, where, depth)
    if isinstance(value, list | tuple):
        return _plain_sequence(value, where, depth)
    if isinstance(value, Mapping):
        return _plain_mapping(value, where, depth)
    raise ValueError(
        f"{_where_text(where)}: a {kind.__module__}.{kind.__qualname__} cannot be written to a "
        "DAG file; use str, int, float, bool, None, or lists and dicts of them"
    )


def _plain_key(key: Any, where: _Where) -> str:
    if type(key) is str:
        return key
    plain = _plain(key, where, 0)
    if type(plain) is not str:
        raise ValueError(f"{_where_text(where)}: key {plain!r} is not a string")
    return plain


def plain_operator(spec: OperatorSpec) -> OperatorSpec:
    """The operator with every argument as plain data (see `plain_data`)."""
    return OperatorSpec(
        spec.task_id,
        spec.operator,
        {key: plain_data(value, f"argument {key!r}") for key, value in spec.kwargs.items()},
        spec.expand_from,
        spec.provider,
    )
