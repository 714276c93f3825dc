"""A bundle's manifest.json: what it holds, checked strictly before anything is written.

Names that become paths (the distribution and version form the installed folder's name,
each workflow's `file` a file in it) follow the library's own naming rules, so no manifest
can reach outside the folder it is installed into.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from processing_core.definition import naming

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
# PEP 508 distribution names.
DISTRIBUTION_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9])?\Z")
SHA256_RE = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Distribution(_Strict):
    name: str
    version: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DISTRIBUTION_RE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a distribution name (letters, digits, '.', '_', '-'; "
                "starting and ending with a letter or digit)"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        try:
            Version(value)
        except InvalidVersion:
            raise ValueError(f"{value!r} is not a PEP 440 version, e.g. '1.2.0'") from None
        tag = naming.image_tag(value)
        if not naming.IMAGE_TAG_RE.fullmatch(tag) or len(tag) > naming.IMAGE_TAG_MAX:
            raise ValueError(f"{value!r} cannot name an installed folder or an image tag")
        return value


class Image(_Strict):
    reference: str | None = None
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")


class ManifestWorkflow(_Strict):
    name: str
    version: str
    dag_id: str = Field(max_length=naming.AIRFLOW_ID_MAX)
    file: str
    sha256: str = Field(pattern=SHA256_RE)
    task_ids: list[str]
    # Task id -> Python extras the task needs in the pipeline image (dkist's pip_extras):
    # there is no per-task environment, so the image must carry them.
    image_extras: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("dag_id")
    @classmethod
    def _dag_id(cls, value: str) -> str:
        if not naming.DAG_ID_RE.fullmatch(value) or value.startswith("."):
            raise ValueError(f"{value!r} is not a dag_id (letters, digits, '_', '.', '-')")
        return value

    @field_validator("task_ids")
    @classmethod
    def _task_ids(cls, value: list[str]) -> list[str]:
        bad = [task_id for task_id in value if not naming.DAG_TASK_ID_RE.fullmatch(task_id)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a task id")
        return value

    @field_validator("image_extras")
    @classmethod
    def _image_extras(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for task_id, extras in value.items():
            if not naming.TASK_ID_RE.fullmatch(task_id):
                raise ValueError(f"image_extras: {task_id!r} is not a task id")
            bad = [extra for extra in extras if not naming.EXTRA_RE.fullmatch(extra)]
            if bad:
                raise ValueError(f"image_extras: {bad[0]!r} is not a Python extra's name")
        return value

    @model_validator(mode="after")
    def _file_is_the_dag_file(self) -> ManifestWorkflow:
        if self.file != f"{self.dag_id}.py":
            raise ValueError(
                f"file {self.file!r} must be the DAG's own file {self.dag_id + '.py'!r}"
            )
        return self


class Manifest(_Strict):
    manifest_version: Literal[1]
    distribution: Distribution
    processing_core: str | None = None
    airflow: str | None = None
    providers: dict[str, str | None] = Field(default_factory=dict)
    image: Image = Field(default_factory=Image)
    workflows: list[ManifestWorkflow] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        for field in ("file", "dag_id"):
            values = [getattr(workflow, field) for workflow in self.workflows]
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                raise ValueError(f"workflows list the {field} {repeated[0]!r} twice")
        return self

    @property
    def folder_name(self) -> str:
        """The installed version's folder: `<distribution>-<version as an image tag>`."""
        return f"{self.distribution.name}-{naming.image_tag(self.distribution.version)}"

    @property
    def files(self) -> dict[str, ManifestWorkflow]:
        return {workflow.file: workflow for workflow in self.workflows}


def parse_manifest(data: bytes) -> tuple[Manifest | None, list[str]]:
    """The manifest in `data`, or None and every problem, each naming the field and the fix."""
    try:
        document: Any = json.loads(data)
    except (ValueError, RecursionError) as error:
        return None, [f"{MANIFEST} is not JSON ({error})"]
    if not isinstance(document, dict) or document.get("manifest_version") != MANIFEST_VERSION:
        return None, [
            f"{MANIFEST} is not a processing-core manifest of version {MANIFEST_VERSION}; "
            "make the bundle with `processing-core bundle`"
        ]
    try:
        return Manifest.model_validate(document), []
    except ValidationError as error:
        return None, [
            f"{MANIFEST}: {'.'.join(str(part) for part in item['loc']) or 'top level'}: "
            f"{item['msg'].removeprefix('Value error, ')}"
            for item in error.errors()
        ]
