"""`processing-core init`: a new pipeline repository that works at once.

The files are templates under `templates/` (named `*.tmpl`, so no tool mistakes them for the
library's own code), with __NAME__, __PACKAGE__ (also the workflows' category), __DNS_NAME__,
the dependency on processing-core (__DEPENDENCY__, __DEPENDENCY_SPARK__, __DEPENDENCY_DEV__:
scaffold.dependency) and __HATCH_METADATA__ (what hatchling needs for a URL dependency)
replaced.
"""

from __future__ import annotations

import keyword
import re
from importlib.resources import files
from pathlib import Path

from processing_core.errors import ProcessingCoreError
from processing_core.scaffold.dependency import Dependency

# Template file -> where it goes (`package/` becomes the package's folder).
_RENAMED = {"gitignore.tmpl": ".gitignore", "changelog/gitkeep.tmpl": "changelog/.gitkeep"}
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\Z")


class ScaffoldError(ProcessingCoreError):
    """`init` cannot write the repository: a bad name, or a folder that is not empty."""


def package_name(name: str) -> str:
    """The import name of distribution `name` (`vbi-pipeline` -> `vbi_pipeline`)."""
    package = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if (
        not _NAME.fullmatch(name)
        or not package.isidentifier()
        or keyword.iskeyword(package)
        or package[0].isdigit()
        or package in {"processing_core", "test", "tests"}
    ):
        raise ScaffoldError(
            f"--name {name!r} cannot name a pipeline: use letters, digits, '-' and '_', "
            "starting with a letter, e.g. --name vbi-pipeline"
        )
    taken = _taken_by(package)
    if taken:
        raise ScaffoldError(
            f"--name {name!r} would make a package {package!r}, which {taken}: importing it "
            f"would give one or the other; choose another name, e.g. --name {name}-pipeline"
        )
    return package


def _taken_by(package: str) -> str:
    """What already answers `import <package>` here ("" when nothing does)."""
    import sys
    from importlib.util import find_spec

    if package in sys.stdlib_module_names or package in sys.builtin_module_names:
        return "is a module of Python's standard library"
    try:
        found = find_spec(package)
    except (ImportError, ValueError):  # a broken module of that name: taken all the same
        return "is a module this Python already imports (and cannot load)"
    if found is not None:
        where = found.origin if found.origin not in (None, "built-in", "frozen") else ""
        return "is a module this Python already imports" + (f" ({where})" if where else "")
    return ""


def write_scaffold(target: Path, name: str, dependency: Dependency | None = None) -> list[Path]:
    """Write a new pipeline repository named `name` into `target` (absent or empty), depending
    on `dependency` (default: the processing-core running this, scaffold.dependency)."""
    from processing_core.fileops import atomic_write
    from processing_core.scaffold.dependency import installed

    package = package_name(name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} exists and is not an empty folder; choose a new one")
    dependency = dependency or installed()
    values = {
        "__NAME__": name,
        "__PACKAGE__": package,
        "__DNS_NAME__": package.replace("_", "-"),
        "__DEPENDENCY_SPARK__": dependency.with_extras("spark"),
        "__DEPENDENCY_DEV__": dependency.with_extras("airflow", "graph"),
        "__DEPENDENCY__": dependency.with_extras(),
        "__HATCH_METADATA__": (
            "\n# processing-core comes from a URL (a checkout or wheel), not an index.\n"
            "[tool.hatch.metadata]\nallow-direct-references = true\n"
            if dependency.is_direct
            else ""
        ),
    }
    written = []
    root = files(__package__).joinpath("templates")
    for relative, template in sorted(_templates(root)):
        destination = _RENAMED.get(relative, relative.removesuffix(".tmpl"))
        if destination.startswith("package/"):
            destination = package + destination.removeprefix("package")
        text = template
        for token, value in values.items():
            text = text.replace(token, value)
        path = target / destination
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode())
        written.append(path)
    return written


def _templates(folder: object, prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for entry in folder.iterdir():  # type: ignore[attr-defined]
        if entry.is_dir():
            found.extend(_templates(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(".tmpl"):
            found.append((f"{prefix}{entry.name}", entry.read_text(encoding="utf-8")))
    return found
