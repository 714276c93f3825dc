"""Which processing-core a new pipeline depends on: the one that wrote it.

Installed from a package index, a released version is the lower bound
(`processing-core>=1.4.0`). Installed from a checkout, a wheel or a VCS URL (PEP 610's
`direct_url.json` says which), the pipeline depends on that same place, so the scaffold's
own install works where no index holds processing-core. `init --processing-core SPEC`
chooses any requirement instead (or a path to a checkout or wheel).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from processing_core.errors import ProcessingCoreError

DISTRIBUTION = "processing-core"


class DependencyError(ProcessingCoreError):
    """`init --processing-core` names no usable requirement of processing-core."""


@dataclass(frozen=True)
class Dependency:
    """A requirement of processing-core, whatever extras it is asked with."""

    requirement: Requirement

    def with_extras(self, *extras: str) -> str:
        """The requirement text with `extras` (`processing-core[spark] @ file:///...`)."""
        requirement = Requirement(str(self.requirement))
        requirement.extras = set(extras)
        return str(requirement)

    def local_note(self) -> str:
        """What to change before the pipeline leaves this machine ("" when nothing)."""
        url = self.requirement.url or ""
        if not url.startswith("file:"):
            return ""
        return (
            f"the pipeline depends on processing-core at {url}, a path of this machine: its "
            "CI and image builds need it from a place they reach; before pushing, change the "
            "requirement in pyproject.toml (or run init with --processing-core "
            "'processing-core>=X.Y')"
        )

    @property
    def is_direct(self) -> bool:
        """A URL (hatchling then needs `allow-direct-references`)."""
        return self.requirement.url is not None


def chosen(spec: str) -> Dependency:
    """`init --processing-core SPEC`: a requirement of processing-core, or the path of a
    checkout or wheel of it."""
    path = Path(spec).expanduser()
    if spec and not spec.startswith(("processing", "file:")) and path.exists():
        return Dependency(Requirement(f"{DISTRIBUTION} @ {path.resolve().as_uri()}"))
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as error:
        raise DependencyError(_explain(spec, str(error))) from None
    if canonicalize_name(requirement.name) != DISTRIBUTION:
        raise DependencyError(_explain(spec, f"it names {requirement.name!r}"))
    return Dependency(requirement)


def installed() -> Dependency:
    """The processing-core running this code, as a requirement (see the module's docstring)."""
    from importlib import metadata

    from processing_core._meta import library_version

    try:
        direct = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct = None
    url = _url(direct)
    if url is not None:
        return Dependency(Requirement(f"{DISTRIBUTION} @ {url}"))
    version = library_version()
    released = re.fullmatch(r"[0-9]+(\.[0-9]+)*", version) is not None
    # A released library pins its lower bound; a development build leaves it open.
    return Dependency(Requirement(f"{DISTRIBUTION}>={version}" if released else DISTRIBUTION))


def _url(text: str | None) -> str | None:
    """The URL a PEP 610 record names, as a requirement takes it (VCS: `git+URL@commit`)."""
    if not text:
        return None
    try:
        record = json.loads(text)
        url = str(record["url"])
    except (ValueError, KeyError, TypeError):
        return None  # an unreadable record: fall back to the version
    vcs = record.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs"):
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        return f"{vcs['vcs']}+{url}" + (f"@{commit}" if commit else "")
    return url


def _explain(spec: str, why: str) -> str:
    return (
        f"--processing-core {spec!r} is not a requirement of processing-core ({why}); give "
        "e.g. 'processing-core>=1.4', 'processing-core @ file:///path/to/checkout', or the "
        "path of a checkout or wheel"
    )
