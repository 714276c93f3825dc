"""Storage a task's container mounts: how tasks of one run share data on Kubernetes.

Pods share no disk. A volume (a PersistentVolumeClaim, an existing ConfigMap or Secret, or
an emptyDir) is declared on the Workflow (every task), on a task class or on one node, and
deployment-wide through K8S_VOLUMES; each is mounted at its path in task pods and in Spark
drivers and executors alike. Everything here is plain data, checked before export.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from processing_core.definition.declared import declared_objects_problems
from processing_core.definition.naming import DNS_SUBDOMAIN_RE, K8S_LABEL_MAX
from processing_core.definition.resources import parse_quantity

# Where the provider's XCom sidecar reads a pod's result (and the Spark driver's): the volume
# name and path are taken.
RESERVED_NAMES = frozenset({"xcom"})
RESERVED_PATH = "/airflow/xcom"
SOURCES = ("claim", "config_map", "secret", "empty_dir")
_DNS_LABEL_MAX = K8S_LABEL_MAX
_MOUNT_PATH_RE = re.compile(r"/[A-Za-z0-9._+@=~/-]+\Z")


@dataclass(frozen=True)
class Volume:
    """One volume and where the task's container mounts it.

    Exactly one source: `claim` (a PersistentVolumeClaim's name), `config_map` or `secret`
    (an existing object's name), or `empty_dir=True` (scratch space living as long as the
    pod; `size_limit` bounds it). Build one with the class methods, e.g.
    `Volume.from_claim("data", "vbi-data", "/data")`.
    """

    name: str
    mount_path: str
    claim: str | None = None
    config_map: str | None = None
    secret: str | None = None
    empty_dir: bool = False
    read_only: bool = False
    size_limit: str | None = None

    @classmethod
    def from_claim(
        cls, name: str, claim: str, mount_path: str, *, read_only: bool = False
    ) -> Volume:
        return cls(name=name, mount_path=mount_path, claim=claim, read_only=read_only)

    @classmethod
    def from_config_map(cls, name: str, config_map: str, mount_path: str) -> Volume:
        # Kubernetes mounts ConfigMaps read-only whatever the mount says; say so.
        return cls(name=name, mount_path=mount_path, config_map=config_map, read_only=True)

    @classmethod
    def from_secret(cls, name: str, secret: str, mount_path: str) -> Volume:
        return cls(name=name, mount_path=mount_path, secret=secret, read_only=True)

    @classmethod
    def scratch(cls, name: str, mount_path: str, *, size_limit: str | None = None) -> Volume:
        return cls(name=name, mount_path=mount_path, empty_dir=True, size_limit=size_limit)

    @classmethod
    def from_data(cls, data: object, where: str) -> Volume:
        """A volume from K8S_VOLUMES' JSON form; ValueError names `where` and the fix."""
        known = [item.name for item in fields(cls)]
        if not isinstance(data, Mapping) or set(data) - set(known):
            unknown = sorted(set(data) - set(known)) if isinstance(data, Mapping) else None
            raise ValueError(
                f"{where}: a volume is an object of {known}"
                + (f"; {unknown} are not among them" if unknown else "")
            )
        try:
            return cls(**dict(data))
        except TypeError as error:  # a required key is missing
            raise ValueError(f"{where}: {error}; give `name` and `mount_path`") from None

    def source(self) -> dict[str, Any]:
        """The volume's source as Kubernetes spells it inside a pod's `volumes` entry."""
        if self.claim is not None:
            return {"persistentVolumeClaim": {"claimName": self.claim, "readOnly": self.read_only}}
        if self.config_map is not None:
            return {"configMap": {"name": self.config_map}}
        if self.secret is not None:
            return {"secret": {"secretName": self.secret}}
        return {"emptyDir": {"sizeLimit": self.size_limit} if self.size_limit else {}}

    def folder(self, *parts: str) -> Path:
        """Where this process reaches the volume (joined with `parts`): its mount path where
        it is mounted (a task's pod, a Spark driver or executor), else a folder of the user's
        own, `$XDG_DATA_HOME/processing-core/volumes/<name>` (`~/.local/share/...` by default):
        a local worker or `processing-core run`, where nothing is mounted and the mount path
        may belong to root. Creates nothing."""
        if os.path.ismount(self.mount_path):
            return Path(self.mount_path, *parts)
        data_home = os.environ.get("XDG_DATA_HOME", "")
        if not os.path.isabs(data_home):  # unset, or relative (which the XDG spec ignores)
            data_home = os.path.join(os.path.expanduser("~"), ".local", "share")
        own = Path(data_home, "processing-core", "volumes", self.name)
        return own.joinpath(*parts)

    def pod_volume(self) -> dict[str, Any]:
        return {"name": self.name, **self.source()}

    def pod_mount(self) -> dict[str, Any]:
        return {"name": self.name, "mountPath": self.mount_path, "readOnly": self.read_only}

    def problems(self) -> list[str]:
        """What is wrong with this volume on its own, each with the fix; [] when fine."""
        where = f"volume {self.name!r}"
        found = []
        if not isinstance(self.name, str) or not (
            DNS_SUBDOMAIN_RE.fullmatch(self.name)
            and "." not in self.name
            and len(self.name) <= _DNS_LABEL_MAX
        ):
            return [
                f"{where}: the name must be a DNS label (lower-case letters, digits and '-', at "
                f"most {_DNS_LABEL_MAX} characters), e.g. 'data'"
            ]
        if self.name in RESERVED_NAMES:
            found.append(f"{where}: the name is used by Airflow's XCom sidecar; choose another")
        found.extend(f"{where}: {problem}" for problem in _mount_path_problems(self.mount_path))
        given = [source for source in SOURCES if getattr(self, source) not in (None, False)]
        if len(given) != 1:
            found.append(
                f"{where}: give exactly one of claim=, config_map=, secret= or empty_dir=True "
                f"(got {given or 'none'})"
            )
        for source in ("claim", "config_map", "secret"):
            value = getattr(self, source)
            if value is not None and not (
                isinstance(value, str) and DNS_SUBDOMAIN_RE.fullmatch(value) and len(value) <= 253
            ):
                found.append(
                    f"{where}: {source} {value!r} is not a Kubernetes object name (lower-case "
                    "letters, digits, '-' and '.')"
                )
        for flag in ("empty_dir", "read_only"):
            if not isinstance(getattr(self, flag), bool):
                found.append(f"{where}: {flag} must be True or False")
        if self.size_limit is not None:
            if not self.empty_dir:
                found.append(f"{where}: size_limit applies to empty_dir volumes only")
            else:
                try:
                    parse_quantity(self.size_limit)
                except ValueError as error:
                    found.append(f"{where}: size_limit: {error}")
        return found


def _mount_path_problems(path: object) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        return [f"mount_path {path!r} must be an absolute path below /, e.g. '/data'"]
    # Paths reach templated operator fields: no character Jinja or a shell could read.
    if not _MOUNT_PATH_RE.fullmatch(path) or ".." in path.split("/"):
        return [
            f"mount_path {path!r} may hold only letters, digits and . _ - + @ = ~ / "
            "(and no '..' part)"
        ]
    normal = posixpath.normpath(path)
    if normal == RESERVED_PATH or normal.startswith(RESERVED_PATH + "/"):
        return [f"mount_path {path!r} is where Airflow reads the task's result; choose another"]
    return []


def placed_volumes(
    deployment: Sequence[Volume], workflow: Sequence[Volume], node: Any
) -> list[tuple[str, Volume]]:
    """Every volume a node's container mounts, with where each was declared: K8S_VOLUMES, the
    Workflow, then add_node(volumes=) if given, else the task class."""
    own = "add_node(volumes=)" if "volumes" in node.overrides else f"{node.task_class.__name__}"
    return [
        *(("K8S_VOLUMES", volume) for volume in deployment),
        *(("the Workflow", volume) for volume in workflow),
        *((own, volume) for volume in node.declared.volumes),
    ]


def volume_set_problems(placed: Iterable[tuple[str, Volume]]) -> list[str]:
    """Clashes between the volumes one container mounts, given with where each was declared:
    one name for two different volumes, or two volumes on one mount path."""
    found = []
    by_name: dict[str, tuple[str, Volume]] = {}
    by_path: dict[str, tuple[str, Volume]] = {}
    for where, volume in placed:
        if not isinstance(volume, Volume) or volume.problems():
            continue  # reported on its own
        seen = by_name.get(volume.name)
        if seen is not None and seen[1] != volume:
            found.append(
                f"volume name {volume.name!r} is declared differently by {seen[0]} and by "
                f"{where}; rename one of them"
            )
            continue
        path = posixpath.normpath(volume.mount_path)
        other = by_path.get(path)
        if other is not None and other[1].name != volume.name:
            found.append(
                f"volumes {other[1].name!r} ({other[0]}) and {volume.name!r} ({where}) are both "
                f"mounted at {path!r}; give one another mount_path"
            )
            continue
        by_name[volume.name] = (where, volume)
        by_path[path] = (where, volume)
    return found


def declared_volumes_problems(volumes: object, where: str) -> list[str]:
    """What is wrong with a sequence of volumes an author declared on `where`."""
    return declared_objects_problems(volumes, where, "volumes", Volume, "Volume.from_claim()")


def unique(volumes: Iterable[Volume]) -> list[Volume]:
    """The volumes in order, each name once (checked sets hold one definition per name)."""
    first: dict[str, Volume] = {}
    for volume in volumes:
        first.setdefault(volume.name, volume)
    return list(first.values())
