"""The one check of a list of objects an author declares on a task or workflow (volumes,
produced assets): a list, of the right class, each object's own problems."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def declared_objects_problems(
    items: object, where: str, field: str, kind: type[Any], build: str
) -> list[str]:
    """What is wrong with `items`, declared as `field` on `where`: objects of `kind`
    (built by `build`), each with a `problems()` method."""
    if isinstance(items, str | bytes | kind) or not isinstance(items, Sequence):
        return [f"{where}: {field} must be a list of {kind.__name__}(...) objects"]
    article = "an" if kind.__name__[0] in "AEIOU" else "a"
    found = []
    for item in items:
        if not isinstance(item, kind):
            found.append(
                f"{where}: {item!r} is not {article} {kind.__name__}; build one with {build}"
            )
        else:
            found.extend(f"{where}: {problem}" for problem in item.problems())
    return found
