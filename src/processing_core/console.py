"""The `processing-core` command's entry point.

`run-task` starts every task of every run, so it is dispatched here, before the rest of the
command line (typer, rich, the build side) is imported: its options are parsed by the
standard library's argparse (`processing_core.runtime.command`). Every other command goes
to the typer application in `processing_core.cli`.
"""

from __future__ import annotations

import sys

from processing_core.report import debug_from_environment, guarded

GLOBAL_DEBUG = "--debug"

__all__ = ["GLOBAL_DEBUG", "main"]


def main() -> None:
    """Console entry point: every error ends as one masked paragraph and exit code 1."""
    arguments = sys.argv[1:]
    leading = 0
    while leading < len(arguments) and arguments[leading] == GLOBAL_DEBUG:
        leading += 1
    if arguments[leading : leading + 1] == ["run-task"]:
        from processing_core.runtime.command import run_task_main

        debug = bool(leading) or debug_from_environment()
        sys.exit(guarded(lambda: run_task_main(arguments[leading + 1 :]), debug))
    from processing_core.cli import main as cli_main

    cli_main()
