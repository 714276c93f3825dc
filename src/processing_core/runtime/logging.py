"""Log lines of a task run: loguru to standard error, each line naming its run and task."""

from __future__ import annotations

import sys

from loguru import logger

_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "{extra[workflow]} {extra[version]} {extra[run_id]} {extra[task_id]}#{extra[try_number]} | "
    "<level>{message}</level>"
)


def configure_logging(level: str) -> None:
    """Standard error only: standard output carries the local target's result line."""
    logger.remove()
    logger.configure(
        extra={"workflow": "-", "version": "-", "run_id": "-", "task_id": "-", "try_number": "-"}
    )
    logger.add(sys.stderr, level=level.upper(), format=_FORMAT, colorize=None)
