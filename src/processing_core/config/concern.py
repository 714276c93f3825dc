"""One concern's settings: the base class, and `load()`, which reads a concern from the
environment and names the variable of every bad value."""

from __future__ import annotations

import json
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationError,
)

from processing_core.environment import lowered
from processing_core.errors import SettingsError


class _Concern(BaseModel):
    """Settings of one concern, read from the environment by `load()`."""

    # Built on first use: a side builds the validators of the concerns it reads, no other.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for the masker."""
        return [
            value.get_secret_value()
            for value in (getattr(self, name) for name in type(self).model_fields)
            if isinstance(value, SecretStr)
        ] + self._derived_secrets()

    def _derived_secrets(self) -> list[str]:
        return []


ConcernT = TypeVar("ConcernT", bound=_Concern)


def load(concern: type[ConcernT], **overrides: Any) -> ConcernT:
    """Read one concern's settings from the environment (variable = field name, any case;
    JSON for structured values); an invalid value raises SettingsError naming the variable.

    Each side reads only what it uses (`run-task`: its run, telemetry and event concerns, as
    needed), so a bad setting of another concern cannot stop it. Hand-written rather than
    pydantic-settings: that library costs a task's start ~30-130 ms of imports, for what
    these lines do.
    """
    environment = lowered()
    values: dict[str, Any] = {}
    problems = []
    for name, field in concern.model_fields.items():
        if name in overrides:
            values[name] = overrides[name]
        elif name in environment:
            text = environment[name]
            if not _structured(field.annotation):
                values[name] = text
            elif text.strip():  # an empty structured value is no value
                try:
                    values[name] = json.loads(text)
                except (json.JSONDecodeError, RecursionError):
                    problems.append(_problem(concern, name, "not valid JSON"))
    if not problems:
        try:
            return concern.model_validate(values)
        except ValidationError as error:
            problems = [
                _problem(concern, str(item["loc"][0]), _plain(item["msg"]), item["loc"][1:])
                if item["loc"]
                else _plain(item["msg"])
                for item in error.errors()
            ]
    raise SettingsError("Invalid environment setting(s):\n  " + "\n  ".join(problems))


def _structured(annotation: Any) -> bool:
    """Whether a field's value is given as JSON: objects, lists and models."""
    candidates = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    for candidate in candidates or (annotation,):
        if get_origin(candidate) in (dict, list):
            return True
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return True
    return False


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")


def _problem(
    concern: type[_Concern], field_name: str, what: str, inner: tuple[Any, ...] = ()
) -> str:
    field = concern.model_fields.get(field_name)
    expects = f" Expected: {field.description}" if field and field.description else ""
    where = "".join(f"[{part!r}]" for part in inner)
    return f"{field_name.upper()}{where}: {what}.{expects}"
