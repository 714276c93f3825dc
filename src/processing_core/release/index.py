"""`index.json`: what a repository folder holds, as `publish` keeps it beside the bundles.

One document lists every published distribution and version with the names and sha256 of
its archive and manifest, so a reader (the artifact-repository DAG bundle) learns what
exists with one plain GET, which any Artifactory-style repository serves. Deterministic
text (sorted keys, no timestamps): publishing the same version again changes nothing.

Each entry has a `seq`, one more than the highest before it when it was added or changed:
the index as it was at any moment is the entries with `seq` up to that moment's highest,
so a reader can name a past state with one number and rebuild it later. `archive_sizes`
gives each archive's size, the most a reader downloads of it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

INDEX = "index.json"
FORMAT = 1
_SHA256_RE = re.compile(r"[0-9a-f]{64}\Z")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\Z")  # a file name in the folder


class IndexFormatError(ValueError):
    """The document is not an index `publish` wrote; the message says what is wrong."""


@dataclass(frozen=True)
class IndexEntry:
    """One published version: its archive and manifest, by name and sha256, and the archive's
    size in bytes when the index records it (what a reader may download at most)."""

    archive: str
    archive_sha256: str
    manifest: str
    manifest_sha256: str
    seq: int = 0
    archive_size: int | None = None

    @classmethod
    def from_data(cls, data: object, where: str, archive_size: int | None = None) -> IndexEntry:
        if not isinstance(data, dict) or not set(_ENTRY_KEYS) <= set(data):
            raise IndexFormatError(f"{where}: an entry is {sorted(_ENTRY_KEYS)}")
        for key in ("archive", "manifest"):
            if not isinstance(data[key], str) or not _NAME_RE.fullmatch(data[key]):
                raise IndexFormatError(f"{where}: {key} {data[key]!r} is not a file name")
        for key in ("archive_sha256", "manifest_sha256"):
            if not isinstance(data[key], str) or not _SHA256_RE.fullmatch(data[key]):
                raise IndexFormatError(f"{where}: {key} is not a sha256 digest")
        seq = data["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise IndexFormatError(f"{where}: seq is not a whole number >= 1")
        # Keys a later writer may add are left for it: this reader knows these.
        return cls(**{key: data[key] for key in _ENTRY_KEYS}, archive_size=archive_size)

    def same_files(self, other: IndexEntry | None) -> bool:
        """Whether `other` names the same archive and manifest (whatever its seq)."""
        return other is not None and all(
            getattr(self, key) == getattr(other, key)
            for key in ("archive", "archive_sha256", "manifest", "manifest_sha256")
        )

    def data(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _ENTRY_KEYS}


# An entry's keys. The archive's size is kept apart, in the index's `archive_sizes`: readers
# written before it refuse an entry with a key they do not know.
_ENTRY_KEYS = ("archive", "archive_sha256", "manifest", "manifest_sha256", "seq")


@dataclass
class RepositoryIndex:
    """Distribution -> version -> entry."""

    distributions: dict[str, dict[str, IndexEntry]]

    @classmethod
    def empty(cls) -> RepositoryIndex:
        return cls({})

    @classmethod
    def parse(cls, text: bytes | str, max_entries: int | None = None) -> RepositoryIndex:
        """Read an index; IndexFormatError says what is wrong with one that is not (or that
        lists more than `max_entries` versions)."""
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise IndexFormatError(f"not JSON ({error})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise IndexFormatError(f'not an index of format {FORMAT} ({{"format": {FORMAT}, ...}})')
        listed = document.get("distributions")
        if not isinstance(listed, dict):
            raise IndexFormatError("`distributions` is not an object")
        count = sum(len(versions) for versions in listed.values() if isinstance(versions, dict))
        if max_entries is not None and count > max_entries:
            raise IndexFormatError(
                f"it lists {count} versions, more than the {max_entries} a reader takes "
                "(BUNDLE_MAX_INDEX_ENTRIES)"
            )
        sizes = document.get("archive_sizes", {})
        if not isinstance(sizes, dict) or not all(
            isinstance(size, int) and not isinstance(size, bool) and size >= 0
            for size in sizes.values()
        ):
            raise IndexFormatError("`archive_sizes` is not an object of whole numbers")
        distributions: dict[str, dict[str, IndexEntry]] = {}
        for name, versions in listed.items():
            if not isinstance(versions, dict):
                raise IndexFormatError(f"{name}: its versions are not an object")
            distributions[name] = {
                version: IndexEntry.from_data(
                    entry, f"{name} {version}",
                    sizes.get(entry.get("archive")) if isinstance(entry, dict) else None,
                )
                for version, entry in versions.items()
            }  # fmt: skip
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
        recorded = replace(entry, seq=self.seq + 1)
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
        entries = [entry for versions in self.distributions.values() for entry in versions.values()]
        document: dict[str, Any] = {
            "format": FORMAT,
            "distributions": {
                name: {version: entry.data() for version, entry in versions.items()}
                for name, versions in self.distributions.items()
            },
        }
        sizes = {e.archive: e.archive_size for e in entries if e.archive_size is not None}
        if sizes:
            document["archive_sizes"] = sizes
        return (json.dumps(document, sort_keys=True, indent=1) + "\n").encode()
