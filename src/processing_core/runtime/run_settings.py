"""What every task run reads first (logging, result path), without pydantic when it can.

Values RunSettings would accept as they are (an exact log format, a level name in any case,
any path) are taken directly; anything else goes to RunSettings, whose error names the
variable. tests/test_settings_sides.py keeps these sets and defaults equal to RunSettings'.
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
LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("human", "json")


@dataclass(frozen=True)
class RunOptions:
    loguru_level: str = "INFO"
    log_format: str | None = None
    result_path: str | None = None
    # `logging` in OTEL_PYTHON_DISABLED_INSTRUMENTATIONS keeps standard logging apart.
    route_standard_logging: bool = True


def run_options() -> RunOptions:
    """The run's logging and result settings; SettingsError names a bad value."""
    values = environment.lowered()
    level = values.get("loguru_level", "INFO").strip().upper()
    log_format = values.get("log_format", "") or None
    if level in LEVELS and log_format in (None, *LOG_FORMATS):
        disabled = values.get("otel_python_disabled_instrumentations", "")
        return RunOptions(
            loguru_level=level,
            log_format=log_format,
            result_path=values.get("result_path") or None,
            route_standard_logging="logging" not in environment.comma_separated(disabled),
        )
    from processing_core.config import RunSettings, load

    settings = load(RunSettings)  # raises, naming the variable
    return RunOptions(
        loguru_level=settings.loguru_level,
        log_format=settings.log_format,
        result_path=settings.result_path,
        route_standard_logging="logging" not in settings.disabled_instrumentations(),
    )
