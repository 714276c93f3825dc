"""Run parameters a workflow declares; they become Airflow Params and the UI's trigger form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from processing_core.definition.naming import TASK_ID_RE

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
    type: ParameterType = "string"
    default: Any = NO_DEFAULT
    description: str | None = None
    required: bool = False
    title: str | None = None
    enum: Sequence[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema Airflow checks a value against (the Param's keyword arguments)."""
        nullable = not self.required and (not self.has_default or self.default is None)
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
        if self.enum is not None and (isinstance(self.enum, str) or not self.enum):
            found.append(f"{where}: enum must be a non-empty list of allowed values")
        default = self.effective_default()
        if default is NO_DEFAULT:
            return found
        try:
            json.dumps(default, allow_nan=False)
        except (TypeError, ValueError):
            return [
                *found,
                f"{where}: default {default!r} is not JSON (use str, int, float, bool, None, "
                "list or dict of those; no NaN or infinity)",
            ]
        if not found:
            found.extend(self._default_matches_schema(where, default))
        return found

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
