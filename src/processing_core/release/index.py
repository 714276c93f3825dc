"""`index.json`: what a repository folder holds, as `publish` keeps it beside the bundles.

One document lists every published distribution and version with the names and sha256 of
its archive and manifest, so a reader (the artifact-repository DAG bundle) learns what
exists with one plain GET, which any Artifactory-style repository serves. Deterministic
text (sorted keys, no timestamps): publishing the same version again changes nothing.

Each entry has a `seq`, one more than the highest before it when it was added or changed:
the index as it was at any moment is the entries with `seq` up to that moment's highest,
so a reader can name a past state with one number and rebuild it later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

INDEX = "index.json"
FORMAT = 1
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\Z")  # a file name in the folder


class IndexFormatError(ValueError):
    """The document is not an index `publish` wrote; the message says what is wrong."""


@dataclass(frozen=True)
class IndexEntry:
    """One published version: its archive and manifest, by name and sha256."""

    archive: str
    archive_sha256: str
    manifest: str
    manifest_sha256: str
    seq: int = 0

    @classmethod
    def from_data(cls, data: object, where: str) -> IndexEntry:
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise IndexFormatError(f"{where}: an entry is {sorted(cls.__dataclass_fields__)}")
        for key in ("archive", "manifest"):
            if not isinstance(data[key], str) or not _NAME_RE.fullmatch(data[key]):
                raise IndexFormatError(f"{where}: {key} {data[key]!r} is not a file name")
        for key in ("archive_sha256", "manifest_sha256"):
            if not isinstance(data[key], str) or not _SHA256_RE.fullmatch(data[key]):
                raise IndexFormatError(f"{where}: {key} is not a sha256 digest")
        seq = data["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise IndexFormatError(f"{where}: seq is not a whole number >= 1")
        return cls(**data)

    def same_files(self, other: IndexEntry | None) -> bool:
        """Whether `other` names the same archive and manifest (whatever its seq)."""
        return other is not None and vars(self) | {"seq": 0} == vars(other) | {"seq": 0}


@dataclass
class RepositoryIndex:
    """Distribution -> version -> entry."""

    distributions: dict[str, dict[str, IndexEntry]]

    @classmethod
    def empty(cls) -> RepositoryIndex:
        return cls({})

    @classmethod
    def parse(cls, text: bytes | str) -> RepositoryIndex:
        """Read an index; IndexFormatError says what is wrong with one that is not."""
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise IndexFormatError(f"not JSON ({error})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise IndexFormatError(f'not an index of format {FORMAT} ({{"format": {FORMAT}, ...}})')
        listed = document.get("distributions")
        if not isinstance(listed, dict):
            raise IndexFormatError("`distributions` is not an object")
        distributions: dict[str, dict[str, IndexEntry]] = {}
        for name, versions in listed.items():
            if not isinstance(versions, dict):
                raise IndexFormatError(f"{name}: its versions are not an object")
            distributions[name] = {
                version: IndexEntry.from_data(entry, f"{name} {version}")
                for version, entry in versions.items()
            }
        return cls(distributions)

    def get(self, distribution: str, version: str) -> IndexEntry | None:
        return self.distributions.get(distribution, {}).get(version)

    @property
    def seq(self) -> int:
        """The highest seq: the index's state, as one number (0 when empty)."""
        return max(
            (entry.seq for versions in self.distributions.values() for entry in versions.values()),
            default=0,
        )

    def add(self, distribution: str, version: str, entry: IndexEntry) -> IndexEntry:
        """Record `entry` (its seq: one more than the highest); returns what was recorded."""
        recorded = IndexEntry(**{**vars(entry), "seq": self.seq + 1})
        self.distributions.setdefault(distribution, {})[version] = recorded
        return recorded

    def as_of(self, seq: int) -> RepositoryIndex:
        """The index as it was when its highest seq was `seq` (entries changed since are
        left out)."""
        return RepositoryIndex(
            {
                name: kept
                for name, versions in self.distributions.items()
                if (kept := {v: e for v, e in versions.items() if e.seq <= seq})
            }
        )

    def to_json(self) -> bytes:
        document: dict[str, Any] = {
            "format": FORMAT,
            "distributions": {
                name: {version: vars(entry) for version, entry in versions.items()}
                for name, versions in self.distributions.items()
            },
        }
        return (json.dumps(document, sort_keys=True, indent=1) + "\n").encode()
