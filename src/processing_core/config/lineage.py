"""OpenLineage events of a task run (LineageSettings): OpenLineage's own OPENLINEAGE_*
variables, and how long a task may spend sending them."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from processing_core.config.concern import _Concern
from processing_core.environment import openlineage_given


class LineageSettings(_Concern):
    """OpenLineage from `run-task`: off unless OpenLineage is configured (a URL, a
    configuration file or OPENLINEAGE__TRANSPORT__* variables), as the OpenLineage client
    reads its configuration; the events themselves are sent by that client."""

    openlineage_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Where `run-task` sends OpenLineage run events over HTTP (the OpenLineage "
        "client's own variable), e.g. `http://marquez:5000`. Other transports: "
        "OPENLINEAGE_CONFIG, `openlineage.yml` or OPENLINEAGE__TRANSPORT__* variables.",
    )
    openlineage_api_key: SecretStr | None = Field(
        default=None, description="Bearer token of the HTTP endpoint (never shown)."
    )
    openlineage_config: str | None = Field(
        default=None,
        description="Path of the OpenLineage client's configuration file (else "
        "`openlineage.yml` in the working folder or `~/.openlineage/`).",
    )
    openlineage_disabled: bool = Field(
        default=False, description="`true`: no OpenLineage event, whatever is configured."
    )
    openlineage_namespace: str = Field(
        default="default",
        min_length=1,
        description="Namespace of the task jobs; Airflow's OpenLineage integration reads the "
        "same variable, so both report in one namespace.",
    )
    openlineage_parent_id: str | None = Field(
        default=None,
        pattern=r"^[^/]+/[^/]+/[^/]+$",
        description="The run a task's run belongs to, `namespace/job/run id` (as dbt-ol reads "
        "it), e.g. Airflow's task run from its OpenLineage macro `lineage_parent_id`.",
    )
    lineage_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Most time a task spends sending its OpenLineage events, in all; an "
        "endpoint that is down or slow costs no more, once, with one warning.",
    )

    @field_validator(
        "openlineage_parent_id", "openlineage_url", "openlineage_config", mode="before"
    )
    @classmethod
    def _blank_lineage_value_is_unset(cls, value: object) -> object:
        # A DAG file passes OPENLINEAGE_PARENT_ID empty where Airflow has no OpenLineage.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("openlineage_config")
    @classmethod
    def _existing_file(cls, value: str | None) -> str | None:
        if value and not Path(value).is_file():
            raise ValueError(f"{value!r} is not a file")
        return value

    def configured(self) -> bool:
        """Whether OpenLineage is on: not disabled, and told where to send events."""
        return not self.openlineage_disabled and openlineage_given()

    def _derived_secrets(self) -> list[str]:
        # A URL may carry a password (`https://user:password@host`).
        if not self.openlineage_url:
            return []
        password = urllib.parse.urlsplit(self.openlineage_url).password
        return [password] if password else []
