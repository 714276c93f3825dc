"""Log lines of a task run: loguru on standard error, each line naming its run, task and span.

Libraries' standard `logging` (pika, Airflow, Spark's py4j) is routed into loguru, so every
line has the same fields and format. `json` writes one object per line for cluster log
collection. Secret values known to the run are masked in every line and traceback
(`processing_core.masking`); loguru's `diagnose` (variable values in tracebacks) stays off,
since those values are what no log may show.
"""

from __future__ import annotations

import json
import logging
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from processing_core.masking import MaskingStream, mask

if TYPE_CHECKING:
    from loguru import Message, Record

IDENTITY = ("workflow", "version", "run_id", "task_id", "try_number")
_HUMAN = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "{extra[workflow]} {extra[version]} {extra[run_id]} {extra[instance]}#{extra[try_number]} "
    "<dim>{extra[trace_id]}:{extra[span_id]}</dim> | <level>{message}</level>"
)


def configure_logging(
    level: str,
    log_format: str | None,
    *,
    route_standard_logging: bool = True,
    stream: TextIO | None = None,
) -> None:
    """Standard error only: standard output carries the local target's result line."""
    target = stream or sys.stderr
    # Every line goes through the masker once (run-task has wrapped standard error already).
    sink = target if isinstance(target, MaskingStream) else MaskingStream(target)
    if log_format is None:
        log_format = "human" if sink.isatty() else "json"
    logger.remove()
    logger.configure(
        extra={name: "-" for name in (*IDENTITY, "trace_id", "span_id")},
        patcher=_patch,
    )
    if log_format == "json":
        logger.add(
            _json_sink(sink),
            level=level,
            format="{message}",
            colorize=False,
            backtrace=False,
            diagnose=False,
        )
    else:
        # loguru appends the formatted traceback to the line it writes: masked with it.
        logger.add(
            sink,
            level=level,
            format=_HUMAN,
            colorize=sink.isatty(),
            backtrace=False,
            diagnose=False,
        )
    if route_standard_logging:
        logging.basicConfig(handlers=[_InterceptHandler()], level=0, force=True)
        # pika narrates every connection at INFO; its warnings and errors are what matter.
        logging.getLogger("pika").setLevel(logging.WARNING)


def _patch(record: Record) -> None:
    extra = record["extra"]
    # An instance of a mapped task reads `task[3]`, as Airflow shows it.
    map_index = extra.get("map_index")
    extra["instance"] = (
        f"{extra['task_id']}[{map_index}]" if map_index is not None else extra["task_id"]
    )
    trace_id, span_id = _current_trace_ids()
    if trace_id:
        record["extra"]["trace_id"], record["extra"]["span_id"] = trace_id, span_id
    record["message"] = mask(record["message"])


def _current_trace_ids() -> tuple[str | None, str | None]:
    from processing_core.runtime.telemetry import trace_ids

    return trace_ids()


def _json_sink(stream: MaskingStream) -> Any:
    def write(message: Message) -> None:
        record = message.record
        document = {
            "time": record["time"].isoformat(),
            "level": record["level"].name,
            "message": record["message"],
            "logger": record["name"],
            **{name: record["extra"].get(name) for name in (*IDENTITY, "trace_id", "span_id")},
        }
        if record["extra"].get("map_index") is not None:
            document["map_index"] = record["extra"]["map_index"]
        if record["exception"] is not None:
            import traceback

            error = record["exception"]
            document["exception"] = mask(
                "".join(traceback.format_exception(error.type, error.value, error.traceback))
            )
        # Message and traceback were masked before encoding (escaping could hide a secret);
        # the stream masks the line once more as a whole.
        stream.write(json.dumps(document, default=str) + "\n")
        stream.flush()

    return write


class _InterceptHandler(logging.Handler):
    """Hands standard-library log records to loguru (loguru's documented recipe)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame: FrameType | None = logging.currentframe()
        depth = 2
        while frame is not None and frame.f_code.co_filename == logging.__file__:
            frame, depth = frame.f_back, depth + 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())
