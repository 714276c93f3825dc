"""`--help` that reads as a person writes it: `processing-core export PACKAGE`, not
`{package}`; `--out PATH`, not `<path>`; a flag without a `<bool>` after it.

Typer labels each option with its Python type and braces required arguments in the usage
line; every command of the CLI is made with this class instead (`cls=HumaneCommand`), which
only changes what the help shows, never what the command line accepts. It reads parameters
by their duck type (`param_type_name`): Typer's classes and its vendored Click differ from
one Typer release to the next.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

# What a value of each type is called when an option gives no metavar of its own.
_NAMES = {"path": "PATH", "list[str]": "TEXT", "str": "TEXT", "int": "N", "float": "NUMBER"}


class HumaneCommand(TyperCommand):
    """A Typer command whose help names values in capitals and flags without a type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            kind = getattr(param, "param_type_name", "")
            if kind == "argument":
                param.metavar = param.metavar or (param.name or "").upper()
                # The name says what it is; a `<str>` beside it says nothing more.
                setattr(param, "display_type_rich", _no_type)  # noqa: B010 - one instance
            elif kind == "option" and param.metavar is None:
                param.metavar = "" if getattr(param, "is_flag", False) else _metavar(param)

    def get_help_option(self, ctx: Any) -> Any:
        return _flag(super().get_help_option(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if getattr(param, "param_type_name", "") == "argument":
                name = param.metavar or (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class HumaneGroup(TyperGroup):
    """The top command: its own flags (`--debug`, `--help`) without `<bool>`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            _flag(param)

    def get_help_option(self, ctx: Any) -> Any:
        return _flag(super().get_help_option(ctx))


def _flag(param: Any) -> Any:
    """A flag shows no value after it."""
    if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
        param.metavar = ""
    return param


def _no_type(ctx: Any) -> None:
    return None


def _metavar(option: Any) -> str:
    descriptor = getattr(option, "type_descriptor", None)
    annotation = str(getattr(descriptor, "annotation", "")).lower()
    for key, name in _NAMES.items():
        if key in annotation:
            return name
    type_name = getattr(option.type, "name", "") or "value"
    return _NAMES.get(type_name.lower(), type_name.upper())
