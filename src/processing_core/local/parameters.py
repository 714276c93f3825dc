"""The parameters of a local run, given as the trigger form gives them and checked alike."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from processing_core.definition.parameters import (
    Parameter,
    ParameterError,
    resolve_parameters,
    undeclared,
)
from processing_core.errors import LocalRunError


def run_parameters(
    declared: Sequence[Parameter], pairs: Iterable[str], params_file: Path | None
) -> dict[str, Any]:
    """`--params-file` (a JSON object), then each `--param NAME=VALUE` over it, resolved
    against the declarations as Airflow resolves a triggered run's: defaults applied, every
    value checked. A value is read as its declared type says: text for a string parameter,
    JSON for the others (and JSON, else text, for an undeclared one)."""
    given: dict[str, Any] = {}
    if params_file is not None:
        try:
            loaded = json.loads(params_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise LocalRunError(f"--params-file {params_file}: {error.strerror}") from None
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError) as error:
            raise LocalRunError(f"--params-file {params_file} is not JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise LocalRunError(f"--params-file {params_file} must hold a JSON object")
        given.update(loaded)
    types = {parameter.name: parameter.type for parameter in declared}
    for pair in pairs:
        name, equals, text = pair.partition("=")
        if not equals or not name.strip():
            raise LocalRunError(f"--param {pair!r} is not NAME=VALUE, e.g. --param frame_size=8")
        given[name.strip()] = _typed(text, types.get(name.strip()))
    names = [parameter.name for parameter in declared]
    unknown = undeclared(declared, given)
    if unknown:
        # Airflow would pass them on and the task would read them nowhere: a misspelling.
        raise LocalRunError(
            f"{unknown} are not parameters of this workflow; its parameters are {names}"
        )
    try:
        return resolve_parameters(declared, given)
    except ParameterError as error:
        raise LocalRunError(f"the run's parameters do not fit: {error}") from None


def _typed(text: str, declared_type: str | None) -> Any:
    if declared_type == "string":
        return text
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text  # left for the declaration to accept or name
