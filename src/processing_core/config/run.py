"""How `run-task` runs a task: its result, logging, local Spark (RunSettings)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from processing_core.config.concern import _Concern
from processing_core.environment import comma_separated


class RunSettings(_Concern):
    """How `run-task` runs a task: its result, logging, local Spark."""

    result_path: str | None = Field(
        default=None,
        description=(
            "Where `run-task` writes the result JSON (`-`: standard output). The Kubernetes "
            "target passes Airflow's XCom path."
        ),
    )

    loguru_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = (
        Field(default="INFO", description="Lowest level of log lines written.")
    )

    log_format: Literal["human", "json"] | None = Field(
        default=None,
        description=(
            "`human` or `json` (one JSON object per line, for cluster log collection); "
            "default: human on a terminal, json otherwise."
        ),
    )

    otel_python_disabled_instrumentations: str = Field(
        default="",
        description="Comma-separated instrumentations not to enable (`logging` keeps the "
        "standard library's logging out of loguru).",
    )

    processing_core_debug: bool = Field(
        default=False,
        description="Show the full (masked) traceback of a command's error, as `--debug` does.",
    )

    pyspark_gateway_port: int | None = Field(
        default=None,
        description=(
            "Set by spark-submit, not by people: when present, a Spark task joins the submitted "
            "application instead of starting local Spark."
        ),
    )

    spark_local_master: str = Field(
        default="local[2]",
        pattern=r"^local(\[([0-9]+|\*)\])?$",
        description="Spark master of a Spark task run outside Kubernetes (local mode).",
    )

    @field_validator(
        "log_format",
        mode="before",
    )
    @classmethod
    def _blank_run_value_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("loguru_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    def disabled_instrumentations(self) -> set[str]:
        return set(comma_separated(self.otel_python_disabled_instrumentations))
