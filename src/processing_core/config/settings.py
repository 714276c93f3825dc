"""Every setting of every concern together (Settings): what the build side and
`processing-core settings` read, who reads each concern, and the README's table."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
)

from processing_core.config.asset_queue import AssetQueueSettings
from processing_core.config.concern import _Concern, load
from processing_core.config.events import EventSettings
from processing_core.config.export import ExportSettings
from processing_core.config.lineage import LineageSettings
from processing_core.config.release import ReleaseSettings
from processing_core.config.run import RunSettings
from processing_core.config.telemetry import TelemetrySettings


class Settings(
    ExportSettings,
    ReleaseSettings,
    RunSettings,
    TelemetrySettings,
    EventSettings,
    LineageSettings,
    AssetQueueSettings,
):
    """Every setting of every concern: what the build side and `processing-core settings`
    read, and what the README's table documents."""

    def _derived_secrets(self) -> list[str]:
        # Each concern's own (the MRO would give only the first concern's).
        return [
            secret
            for concern in type(self).__mro__[1:]
            if "_derived_secrets" in vars(concern) and concern is not _Concern
            for secret in vars(concern)["_derived_secrets"](self)
        ]


def load_settings(**overrides: Any) -> Settings:
    """Every setting (the build side's view); see `load()`."""
    return load(Settings, **overrides)


# Who reads each concern, as the README's table says.
READERS: dict[type[_Concern], str] = {
    ExportSettings: "export, validate, bundle",
    RunSettings: "run-task",
    TelemetrySettings: "run-task, when an OTLP endpoint is set",
    EventSettings: (
        "run-task and Airflow callbacks, when events are on; `events`; the triggerer's "
        "RabbitMQ trigger (the broker)"
    ),
    LineageSettings: "run-task, when OpenLineage is configured",
    ReleaseSettings: "verify, install, publish, prune; the triggerer's RabbitMQ trigger (API)",
    AssetQueueSettings: "the Airflow scheduler (processing-core's plugin)",
}


def settings_markdown() -> str:
    """The table of environment variables, by concern, as the README shows it."""
    rows = ["| variable | default | read by | meaning |", "| --- | --- | --- | --- |"]
    for concern, readers in READERS.items():
        for name, field in concern.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if name == "events_outbox":
                default = "<temp dir>/processing-core-outbox"  # the machine's, not this one's
            elif isinstance(default, BaseModel):
                default = default.model_dump_json()
            shown = "" if default in (None, "", {}, []) else f"`{default}`"
            description = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{name.upper()}` | {shown} | {readers} | {description} |")
    return "\n".join(rows) + "\n"
