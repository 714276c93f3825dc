"""Run values too large for one argument: how they reach `run-task` all the same.

Linux refuses to start a process with one argument or environment string over 128 KiB
(MAX_ARG_STRLEN): "Argument list too long". A run's parameters, its conf, or the results of
a task's upstreams can be larger than that. So every JSON option of `run-task` (--parameters,
--inputs, --conf, --asset-events, ...) also takes a reference to where its value is:

- `@PATH`: the text of a file (`processing-core run` passes its run folder's files);
- `@-`: standard input;
- `@env:NAME`: the environment variables NAME__1, NAME__2, ... joined in order, each under
  the limit: what Airflow's side of a generated task (`airflow_callbacks.RunValuesHook`)
  makes of a value too large for one argument, in the pod's, process's or Spark driver's
  environment.

JSON never starts with `@`, so a value given as JSON is read as it always was. Standard
library only: both sides import it, the pod before anything else.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping

# Under Linux's 131,072 bytes per argument or environment string, with room for the name.
PART_BYTES = 100_000
# All of a task's run values together, at most: a pod's spec must stay well under etcd's
# 1.5 MiB request limit, and a process's arguments and environment under ARG_MAX (2 MiB).
TOTAL_BYTES = 1 << 20
# The most `run-task` reads from a file or standard input for one value.
MAX_VALUE_BYTES = 64 << 20
ENV_PREFIX = "PROCESSING_CORE_VALUE_"
_OPTION = re.compile(r"--(?P<name>[a-z][a-z0-9-]*)=(?P<value>.*)\Z", re.DOTALL)


class RunValueError(ValueError):
    """A reference cannot be read, or the run's values cannot reach the task at all."""


def env_reference(option: str) -> tuple[str, str]:
    """(the reference for `--option`'s value, the variables' common name)."""
    name = ENV_PREFIX + option.upper().replace("-", "_")
    return f"@env:{name}", name


def parts(value: str, limit: int = PART_BYTES) -> list[str]:
    """`value` cut into pieces of at most `limit` bytes of UTF-8, never inside a character."""
    data = value.encode("utf-8")
    pieces: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: back off
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces


def too_large(value: str) -> bool:
    return len(value.encode("utf-8")) > PART_BYTES


def move_large_arguments(arguments: list[str]) -> tuple[list[str], dict[str, str]]:
    """The arguments with every `--option=value` too large for one argument replaced by its
    `@env:` reference, and the environment variables holding the values."""
    moved: dict[str, str] = {}
    kept = []
    for argument in arguments:
        match = _OPTION.match(argument) if isinstance(argument, str) else None
        if match is None or not too_large(match["value"]) or match["value"].startswith("@"):
            kept.append(argument)
            continue
        reference, name = env_reference(match["name"])
        moved |= {f"{name}__{n}": part for n, part in enumerate(parts(match["value"]), 1)}
        kept.append(f"--{match['name']}={reference}")
    return kept, moved


def move_large_variables(
    environment: Mapping[str, str], options: Mapping[str, str]
) -> dict[str, str]:
    """`environment` with each variable of `options` (variable -> run-task option) whose value
    is too large for one string replaced by its `@env:` reference plus the parts."""
    result = dict(environment)
    for variable, option in options.items():
        value = result.get(variable)
        if not isinstance(value, str) or not too_large(value) or value.startswith("@"):
            continue
        reference, name = env_reference(option)
        result[variable] = reference
        result |= {f"{name}__{n}": part for n, part in enumerate(parts(value), 1)}
    return result


def check_total(values: list[str], where: str) -> None:
    """RunValueError when `values` together are more than a task can be given."""
    total = sum(len(value.encode("utf-8")) for value in values if isinstance(value, str))
    if total > TOTAL_BYTES:
        raise RunValueError(
            f"{where}: the run's values (parameters, conf, inputs) are {total:,} bytes together; "
            f"a task is given at most {TOTAL_BYTES:,} (a pod's spec, a process's command line): "
            "put large data in storage and pass its location"
        )


# -- the run side ------------------------------------------------------------------------------
def resolve(option: str, text: str, *, used_stdin: list[str]) -> str:
    """The value `--option=text` stands for: `text` itself, or what its reference names."""
    if not text.startswith("@"):
        return text
    reference = text[1:]
    if reference == "-":
        if used_stdin:
            raise RunValueError(
                f"--{option}=@-: standard input is already read for --{used_stdin[0]}; give "
                "one of them as a file"
            )
        used_stdin.append(option)
        return _bounded(sys.stdin.buffer.read(MAX_VALUE_BYTES + 1), option, "standard input")
    if reference.startswith("env:"):
        return _joined(option, reference.removeprefix("env:"))
    try:
        with open(reference, "rb") as file:
            data = file.read(MAX_VALUE_BYTES + 1)
    except OSError as error:
        raise RunValueError(
            f"--{option}=@{reference}: cannot read {reference} ({error.strerror or error}); "
            "give a readable file, or the value as JSON"
        ) from None
    return _bounded(data, option, reference)


def _joined(option: str, name: str) -> str:
    pieces: list[str] = []
    while (piece := os.environ.get(f"{name}__{len(pieces) + 1}")) is not None:
        pieces.append(piece)
    if not pieces:
        raise RunValueError(
            f"--{option}=@env:{name}: no variable {name}__1 in the environment; the value "
            "arrives in NAME__1, NAME__2, ..."
        )
    return "".join(pieces)


def _bounded(data: bytes, option: str, source: str) -> str:
    if len(data) > MAX_VALUE_BYTES:
        raise RunValueError(f"--{option}: {source} holds more than {MAX_VALUE_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RunValueError(f"--{option}: {source} is not UTF-8 text") from None
