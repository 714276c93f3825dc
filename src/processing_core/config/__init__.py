"""Every environment variable processing-core reads, typed, one class per concern, all in
this package: export (`export.ExportSettings`), a running task (`run.RunSettings`;
`telemetry.TelemetrySettings` when it exports spans, `events.EventSettings` when it sends
events or one of their variables is set), releases (`release.ReleaseSettings`) and the
scheduler's plugin (`asset_queue.AssetQueueSettings`); `settings.Settings` holds them all
(the README's table). A variable means the same thing everywhere; each side reads only its
concerns (`concern.load`), so a bad export setting can never fail a running task. Field
names are the variable names in lower case.

Names are imported from here on first use: a running task that reads only its run
settings builds no other concern's model.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from processing_core.config.asset_queue import AssetQueueSettings
    from processing_core.config.concern import load
    from processing_core.config.events import EventSettings, MeshService, RetryConfig
    from processing_core.config.export import ExportSettings, ResourceProfileSettings
    from processing_core.config.lineage import LineageSettings
    from processing_core.config.release import ReleaseSettings
    from processing_core.config.run import RunSettings
    from processing_core.config.settings import (
        READERS,
        Settings,
        load_settings,
        settings_markdown,
    )
    from processing_core.config.telemetry import TelemetrySettings, parse_headers

_WHERE = {
    "load": "concern",
    "ExportSettings": "export",
    "ResourceProfileSettings": "export",
    "RunSettings": "run",
    "TelemetrySettings": "telemetry",
    "parse_headers": "telemetry",
    "EventSettings": "events",
    "MeshService": "events",
    "RetryConfig": "events",
    "LineageSettings": "lineage",
    "ReleaseSettings": "release",
    "AssetQueueSettings": "asset_queue",
    "Settings": "settings",
    "READERS": "settings",
    "load_settings": "settings",
    "settings_markdown": "settings",
}
__all__ = [
    "READERS",
    "AssetQueueSettings",
    "EventSettings",
    "ExportSettings",
    "LineageSettings",
    "MeshService",
    "ReleaseSettings",
    "ResourceProfileSettings",
    "RetryConfig",
    "RunSettings",
    "Settings",
    "TelemetrySettings",
    "load",
    "load_settings",
    "parse_headers",
    "settings_markdown",
]  # every name of _WHERE (tests/test_architecture.py keeps them equal)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found directly from now on
    return value
