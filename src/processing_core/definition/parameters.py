"""Run parameters a workflow declares; they become Airflow Params and the UI's trigger form."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from processing_core.definition.naming import TASK_ID_RE

# Deeper than any run parameter needs; json and jsonschema would recurse past Python's limit.
MAX_DEPTH = 32

ParameterType = Literal["string", "integer", "number", "boolean", "array", "object"]
PARAMETER_TYPES: tuple[str, ...] = ("string", "integer", "number", "boolean", "array", "object")


class _NoDefault:
    """Marks a parameter without a default (distinct from a default of None)."""

    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class Parameter:
    """One run parameter.

    A required parameter without a default must be given when the run is triggered; an
    optional one without a default is None unless given.
    """

    name: str
    # None: the default's type (10 -> integer, 0.5 -> number, True -> boolean, [...] -> array,
    # {...} -> object), else string.
    type: ParameterType | None = None
    default: Any = NO_DEFAULT
    description: str | None = None
    required: bool = False
    title: str | None = None
    enum: Sequence[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.type is None:
            object.__setattr__(self, "type", _type_of(self.default))

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema Airflow checks a value against (the Param's keyword arguments)."""
        # Optional ones accept null: the trigger form then shows as required only what has
        # no default, and an emptied field means the default (see resolve_parameters).
        nullable = not self.required
        schema: dict[str, Any] = {"type": [self.type, "null"] if nullable else self.type}
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema

    def effective_default(self) -> Any:
        """The Param's default: an optional parameter without one defaults to None."""
        if self.has_default:
            return self.default
        return NO_DEFAULT if self.required else None

    def problems(self) -> list[str]:
        """What is wrong with this declaration, each with the fix; [] when fine."""
        where = f"parameter {self.name!r}"
        if not isinstance(self.name, str) or not TASK_ID_RE.fullmatch(self.name):
            return [
                f"{where}: the name must start with a letter and hold only letters, digits "
                "and '_' (it is used as params.<name> in templates)"
            ]
        if self.type not in PARAMETER_TYPES:
            return [f"{where}: type {self.type!r} is unknown; use one of {list(PARAMETER_TYPES)}"]
        found = []
        for label, text in (("description", self.description), ("title", self.title)):
            if text is not None and not isinstance(text, str):
                found.append(f"{where}: {label} must be a string, not {type(text).__name__}")
        if self.enum is not None and (
            isinstance(self.enum, str | bytes)
            or not isinstance(self.enum, Sequence)
            or not self.enum
        ):
            found.append(f"{where}: enum must be a non-empty list of allowed values")
        elif self.enum is not None:
            found.extend(
                f"{where}: enum value {problem}"
                for problem in filter(None, (_json_problem(value) for value in self.enum))
            )
        for label, bound in (("minimum", self.minimum), ("maximum", self.maximum)):
            if bound is not None and (
                isinstance(bound, bool)
                or not isinstance(bound, int | float)
                or not math.isfinite(bound)
            ):
                found.append(f"{where}: {label} {_shown(bound)} must be a finite number or None")
        default = self.effective_default()
        if default is NO_DEFAULT:
            return found
        problem = _json_problem(default)
        if problem:
            return [*found, f"{where}: default {problem}"]
        if not found:
            found.extend(self._default_matches_schema(where, default))
        return found

    def as_data(self) -> dict[str, Any]:
        """The declaration as JSON data (what differs from the defaults), for `run-task`."""
        data: dict[str, Any] = {"name": self.name}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "type" and value == "string":
                continue  # what a declaration without a type always meant
            if item.name != "name" and value is not NO_DEFAULT and value != item.default:
                data[item.name] = list(value) if item.name == "enum" else value
        return data

    @classmethod
    def from_data(cls, data: object) -> Parameter:
        """A declaration from `as_data()`; ParameterError names what does not fit."""
        known = {item.name for item in fields(cls)}
        if not isinstance(data, Mapping) or "name" not in data or set(data) - known:
            raise ParameterError(
                f"a declared parameter must be an object with `name` and any of {sorted(known)}, "
                f"got {_shown(data)}"
            )
        parameter = cls(**dict(data))
        problems = parameter.problems()
        if problems:
            raise ParameterError("; ".join(problems))
        return parameter

    def _default_matches_schema(self, where: str, default: Any) -> list[str]:
        # Build time, so jsonschema (an Airflow dependency) is imported only here.
        import jsonschema

        try:
            jsonschema.validate(default, self.json_schema())
        except jsonschema.ValidationError as error:
            return [
                f"{where}: default {default!r} does not match its type {self.type!r}: "
                f"{error.message}; change the default or the type"
            ]
        except jsonschema.SchemaError as error:
            return [f"{where}: invalid enum/minimum/maximum: {error.message}"]
        return []


def template_default_warning(parameter: Parameter) -> str | None:
    """A default that reads like a Jinja template (`"{{ ds }}"`): Airflow renders no parameter
    default, nor does a local run, so every run gets the text itself. Usually a mistake, but
    a literal text can be meant: a warning, not a problem."""
    if not parameter.has_default or not any(
        isinstance(text, str) and ("{{" in text or "{%" in text)
        for text in _strings(parameter.default)
    ):
        return None
    return (
        f"parameter {parameter.name!r}: default {_shown(parameter.default)} looks like a Jinja "
        "template, but Airflow renders no parameter default (nor does a local run): each run "
        "gets this text as is. To use the run's date, read self.logical_date or "
        "self.data_interval_start in the task; if the text is meant, ignore this warning"
    )


def _strings(value: Any) -> list[Any]:
    """`value` and, for a list or object, its items (one level: defaults are small)."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, Mapping):
        return list(value.values())
    return [value]


def _type_of(default: Any) -> str:
    """The JSON type of a default: what a parameter declared without a type has."""
    for python, json_type in ((bool, "boolean"), (int, "integer"), (float, "number"),
                              (list | tuple, "array"), (Mapping, "object")):  # fmt: skip
        if isinstance(default, python):
            return json_type
    return "string"


def _shown(value: object) -> str:
    text = repr(value) if type(value) in (int, float, str, bool, bytes) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _json_problem(value: Any) -> str | None:
    """Why `value` is not a plain JSON value (type, NaN/infinity, depth), or None."""
    if _depth(value) > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep; flatten it"
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return (
            f"{_shown(value)} is not JSON (use str, int, float, bool, None, list or dict of "
            "those; no NaN, infinity or bytes)"
        )
    return None


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level + 1)
    if isinstance(value, list | tuple):
        return max((_depth(item, level + 1) for item in value), default=level + 1)
    return level


class ParameterError(ValueError):
    """The run's parameters do not fit what the workflow declares."""


def resolve_parameters(declared: Sequence[Parameter], given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameters as Airflow resolves them for a triggered run.

    Each declared parameter takes its given value, else its default; every value is checked
    against its declaration; values nobody declared are kept (Airflow keeps a run's extra
    `conf` keys too). ParameterError lists every problem, naming the declared parameters.
    """
    resolved = dict(given)
    problems = []
    for parameter in declared:
        if resolved.get(parameter.name, 0) is None and parameter.has_default:
            del resolved[parameter.name]  # an emptied form field: the default
        if parameter.name not in resolved:
            default = parameter.effective_default()
            if default is NO_DEFAULT:
                problems.append(f"parameter {parameter.name!r} is required and was not given")
                continue
            resolved[parameter.name] = default
        problem = _json_problem(resolved[parameter.name]) or _schema_problem(
            parameter, resolved[parameter.name]
        )
        if problem:
            problems.append(f"parameter {parameter.name!r}: {problem}")
    if problems:
        names = [parameter.name for parameter in declared]
        raise ParameterError("; ".join(problems) + f" (declared parameters: {names})")
    return resolved


def undeclared(declared: Sequence[Parameter], names: Iterable[str]) -> list[str]:
    """The names no declaration has, sorted: a misspelt parameter Airflow would pass on."""
    return sorted(set(names) - {parameter.name for parameter in declared})


def _schema_problem(parameter: Parameter, value: Any) -> str | None:
    # jsonschema, as Airflow's Param uses, so a value passes here exactly when it passes
    # there; imported only when a run has declarations to check.
    import jsonschema

    try:
        jsonschema.validate(value, parameter.json_schema())
    except jsonschema.ValidationError as error:
        return f"{_shown(value)} does not fit its declaration: {error.message}"
    return None


def parameter_data(declared: Sequence[Parameter]) -> list[dict[str, Any]]:
    """What resolving a run's parameters needs of the declarations (not the texts for people),
    as JSON data, in declaration order."""
    return [
        {key: value for key, value in parameter.as_data().items() if key not in _FOR_PEOPLE}
        for parameter in declared
    ]


_FOR_PEOPLE = ("description", "title")


def parameters_from_data(data: object) -> tuple[Parameter, ...]:
    """Declarations from `parameter_data()`; ParameterError names what does not fit."""
    if not isinstance(data, list):
        raise ParameterError(f"declared parameters must be a JSON list, got {_shown(data)}")
    return tuple(Parameter.from_data(item) for item in data)
