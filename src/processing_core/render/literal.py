"""Python source for operator data: literals via repr(), calls to imported names, nothing else.

Every string goes through repr(), which always yields a closed literal with newlines,
quotes and backslashes escaped; so no value can end a literal early and become code. Only
exact built-in types are written (a subclass's repr() is its author's code, not a literal):
`nodes.spec.plain_data` converts what it can first, and anything else is refused here.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from processing_core.nodes.spec import MAX_DEPTH, Call, Name

INDENT = "    "
LINE_LIMIT = 96


class ImportTable:
    """The names a file imports, each bound once; a clashing name gets a numbered alias."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], str] = {}

    def name_for(self, module: str, attribute: str) -> str:
        """The local name for `module:attribute`'s first part."""
        head, dot, rest = attribute.partition(".")
        key = (module, head)
        if key not in self._names:
            taken = set(self._names.values())
            local, number = head, 2
            while local in taken:
                local, number = f"{head}_{number}", number + 1
            self._names[key] = local
        return self._names[key] + dot + rest

    def local_names(self) -> set[str]:
        return set(self._names.values())

    def lines(self) -> list[str]:
        by_module: dict[str, list[str]] = {}
        for (module, name), local in self._names.items():
            by_module.setdefault(module, []).append(name if local == name else f"{name} as {local}")
        return [
            f"from {module} import {', '.join(sorted(names))}"
            for module, names in sorted(by_module.items())
        ]


class SharedCalls:
    """Names of module constants for constructor calls, so that an object many tasks use is
    built once per file; a call written elsewhere is replaced by the constant of an equal one.

    Calls are matched by a key that is equal exactly when their source text is (so a file
    reads as if each call's source were compared), computed once per call object: a file's
    calls are looked up again at every level of nesting, and rendering each one to compare
    it made export quadratic in the depth of a pod's specification.
    """

    def __init__(self, imports: ImportTable) -> None:
        self._imports = imports
        self._names: dict[Hashable, str] = {}
        # id(call) -> (call, key); the call is kept so that its id is not reused.
        self._keys: dict[int, tuple[Call, Hashable]] = {}
        self._bound: set[str] = set()  # targets whose import is bound already

    def __bool__(self) -> bool:
        return bool(self._names)

    def key(self, value: Any) -> Hashable:
        """Equal for two values exactly when their source text is equal. Visits calls and
        names in the order `to_source` writes them, binding their imports in that order (a
        clashing name's alias depends on it)."""
        kind = type(value)
        if kind is str:  # the most common; every other key is a tuple
            return value
        if kind is Call:
            known = self._keys.get(id(value))
            if known is None:
                self._bind(value)
                key = (
                    "(",
                    value.target,
                    tuple([self.key(arg) for arg in value.args]),
                    tuple([(name, self.key(item)) for name, item in value.kwargs.items()]),
                )
                known = self._keys[id(value)] = (value, key)
            return known[1]
        if kind is dict:
            return ("{", *[(name, self.key(item)) for name, item in value.items()])
        if kind is list or kind is tuple:  # both are written as a list
            return ("[", *[self.key(item) for item in value])
        if kind is Name:
            self._bind(value)
            return (".", value.target)
        return ("#", repr(value))  # a scalar's source (to_source refuses what it cannot write)

    def _bind(self, name: Name) -> None:
        if name.target not in self._bound:
            self._bound.add(name.target)
            self._imports.name_for(name.module, name.attribute)

    def add(self, call: Call, name: str) -> None:
        self._names[self.key(call)] = name

    def name_of(self, call: Call) -> str | None:
        return self._names.get(self.key(call)) if self._names else None

    def copy(self) -> SharedCalls:
        """The names known now, sharing the keys computed so far."""
        copied = SharedCalls(self._imports)
        copied._names, copied._keys, copied._bound = dict(self._names), self._keys, self._bound
        return copied


def to_source(
    value: Any, imports: ImportTable, depth: int = 0, shared: SharedCalls | None = None
) -> str:
    """Source text of `value`; nested containers wrap across lines when long. A call that
    `shared` names is written as its constant's name."""
    if shared and type(value) is Call:
        name = shared.name_of(value)
        if name is not None:
            return name
    if depth > MAX_DEPTH + 4:  # plain_data bounds author data; this bounds everything else
        raise ValueError("operator data nested too deeply to write to a DAG file")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return repr(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be written to a DAG file")
        return repr(value)
    if kind is Name:
        return imports.name_for(value.module, value.attribute)
    if isinstance(value, Call):
        name = imports.name_for(value.module, value.attribute)
        # A nested call may be a shared constant too (one marked `once`).
        parts = [to_source(arg, imports, depth + 1, shared) for arg in value.args]
        parts += [
            f"{key}={to_source(item, imports, depth + 1, shared)}"
            for key, item in value.kwargs.items()
        ]
        return _wrap(f"{name}(", parts, ")", depth)
    if kind in (list, tuple):
        items = [to_source(item, imports, depth + 1, shared) for item in value]
        return _wrap("[", items, "]", depth)
    if kind is dict:
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                raise ValueError(f"mapping key {key!r} is not a string")
            parts.append(f"{key!r}: {to_source(item, imports, depth + 1, shared)}")
        return _wrap("{", parts, "}", depth)
    raise ValueError(f"a {kind.__qualname__} cannot be written to a DAG file; convert it first")


def _wrap(opening: str, parts: list[str], closing: str, depth: int) -> str:
    inline = opening + ", ".join(parts) + closing
    if len(inline) + len(INDENT) * depth <= LINE_LIMIT and "\n" not in inline:
        return inline
    inner = INDENT * (depth + 1)
    body = "".join(f"{inner}{part},\n" for part in parts)
    return f"{opening}\n{body}{INDENT * depth}{closing}"
