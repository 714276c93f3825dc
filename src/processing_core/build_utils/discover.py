"""Find every Workflow defined at module level in a package's public modules."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Any

from processing_core.definition.workflow import Workflow
from processing_core.errors import ExportError


def discover_workflows(package: str) -> list[Workflow]:
    """Import `package` and its public modules; return their Workflow objects in a stable order.

    Modules whose name (or a parent's) starts with `_` are private and skipped, as are tests.
    An import failure is reported with the module's name, never skipped silently.
    """
    _importable_from_working_directory()
    try:
        root = _import(package)
    except _ImportFailed as failed:
        raise ExportError([f"cannot import package {package!r}{failed}"]) from failed.error
    modules = [root]
    problems = []
    for info in _public_submodules(root):
        try:
            modules.append(_import(info))
        except _ImportFailed as failed:
            problems.append(
                f"cannot import module {info!r}{failed}; fix it, or make it private (a name "
                "starting with '_') if it holds no workflows"
            )
    if problems:
        raise ExportError(problems)
    found: dict[int, Workflow] = {}
    for module in sorted(modules, key=lambda m: m.__name__):
        for name in sorted(vars(module)):
            value = vars(module)[name]
            if isinstance(value, Workflow) and not name.startswith("_"):
                found.setdefault(id(value), value)
    return sorted(found.values(), key=lambda workflow: workflow.name)


class _ImportFailed(Exception):
    """Importing an author's module failed; str() says where and how (after the name)."""

    def __init__(self, error: BaseException, described: str) -> None:
        self.error = error
        super().__init__(f"{_where(error)}: {described}")


def _import(name: str) -> Any:
    """Import an author's module. Whatever it raises becomes one line naming the module:
    a module that calls sys.exit() or raises KeyboardInterrupt while it is imported must not
    end the command with its own message, or with none."""
    try:
        return importlib.import_module(name)
    except SystemExit as error:
        raise _ImportFailed(
            error,
            f"it called sys.exit({error.code!r}) while being imported; a module must not "
            "exit at import (move that into a function)",
        ) from None
    except KeyboardInterrupt as error:
        if _raised_by_author(error):
            raise _ImportFailed(error, "it raised KeyboardInterrupt while being imported") from None
        raise  # Ctrl-C: the command stops, saying so
    except Exception as error:
        raise _ImportFailed(error, _short(error)) from None


def _raised_by_author(error: BaseException) -> bool:
    """Whether the innermost frame of `error` is the author's `raise` (not a signal that
    happened to arrive while some library code ran)."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and frames[-1].line is not None and "raise" in frames[-1].line


def _public_submodules(root: object) -> list[str]:
    paths = getattr(root, "__path__", None)
    if paths is None:
        return []
    names = []
    prefix = f"{root.__name__}."  # type: ignore[attr-defined]
    for info in pkgutil.walk_packages(paths, prefix, onerror=lambda _name: None):
        parts = info.name[len(prefix) :].split(".")
        if any(part.startswith("_") or part in {"tests", "test"} for part in parts):
            continue
        names.append(info.name)
    return sorted(names)


def _importable_from_working_directory() -> None:
    # Like `python -m`: a pipeline package checked out in the working directory is importable.
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def _where(error: BaseException) -> str:
    """` (file, line N)` of the error in the author's code, or nothing when unknown."""
    if isinstance(error, SyntaxError) and error.filename:
        return f" ({error.filename}, line {error.lineno})"
    ours = str(Path(__file__).resolve().parents[1])  # this library's frames name no culprit
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(("<frozen", ours)) and "importlib" not in frame.filename
    ]
    return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def _short(error: BaseException) -> str:
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return last


def select_workflows(reference: str) -> list[Workflow]:
    """The workflows `PACKAGE[:WORKFLOW]` names: one by its name, else all of the package's."""
    package, _, name = reference.partition(":")
    workflows = discover_workflows(package)
    if not name:
        if not workflows:
            raise ExportError([f"package {package!r} defines no Workflow at module level"])
        return workflows
    chosen = [workflow for workflow in workflows if workflow.name == name]
    if not chosen:
        names = [workflow.name for workflow in workflows]
        raise ExportError(
            [f"package {package!r} has no workflow named {name!r}; its workflows are {names}"]
        )
    return chosen


def workflow_location(workflow: Workflow) -> tuple[str, str]:
    """(module, attribute) where a discovered workflow is defined, for code that imports it."""
    package = workflow.workflow_package.partition(".")[0]
    candidates = sorted(
        (name, module)
        for name, module in list(sys.modules.items())
        if module is not None and (name == package or name.startswith(package + "."))
    )
    for name, module in candidates:
        for attribute, value in sorted(vars(module).items()):
            if value is workflow and not attribute.startswith("_"):
                return name, attribute
    raise ExportError([f"workflow {workflow.name!r} is not defined at module level of {package!r}"])
