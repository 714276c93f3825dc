"""What every task run reads first (logging, result path), without pydantic when unchanged.

When none of these variables is set, a run takes RunSettings' defaults as they are (kept
equal by tests/test_settings_sides.py); when any is set, RunSettings validates them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from processing_core import environment

# The RunSettings fields a run reads at its start.
READ_AT_START = (
    "loguru_level",
    "log_format",
    "result_path",
    "otel_python_disabled_instrumentations",
)


@dataclass(frozen=True)
class RunOptions:
    loguru_level: str = "INFO"
    log_format: str | None = None
    result_path: str | None = None
    # `logging` in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS keeps standard logging apart.
    route_standard_logging: bool = True


def run_options() -> RunOptions:
    """The run's logging and result settings; SettingsError names a bad value."""
    if not environment.given(*READ_AT_START):
        return RunOptions()
    from processing_core.config import RunSettings, load

    settings = load(RunSettings)
    return RunOptions(
        loguru_level=settings.loguru_level,
        log_format=settings.log_format,
        result_path=settings.result_path,
        route_standard_logging="logging" not in settings.disabled_instrumentations(),
    )
