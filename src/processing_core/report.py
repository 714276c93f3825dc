"""How an error reaches people: one masked paragraph on standard error, and the traceback
only for those who ask (`--debug`, PROCESSING_CORE_DEBUG). Shared by the typer CLI and
`run-task` (which must not import the CLI), standard library only at import."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def debug_from_environment() -> bool:
    return os.environ.get("PROCESSING_CORE_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def guarded(command: Callable[[], int], debug: bool) -> int:
    """Run `command`; an error nothing turned into a message becomes one (exit 1)."""
    try:
        return command()
    except KeyboardInterrupt:
        error_line("interrupted")
        return 130
    except Exception as error:
        if debug:
            import traceback

            from processing_core.masking import mask

            sys.stderr.write(mask("".join(traceback.format_exception(error))))
        error_line(explain(error, debug))
        return 1


def error_line(message: str) -> None:
    from processing_core.masking import mask

    sys.stderr.write(f"Error: {mask(message)}\n")
    sys.stderr.flush()


def explain(error: Exception, debug: bool) -> str:
    """One paragraph for an error no command turned into a message of its own."""
    from processing_core.errors import ProcessingCoreError

    if isinstance(error, ProcessingCoreError):
        return str(error)
    if isinstance(error, OSError):
        where = " and ".join(str(name) for name in (error.filename, error.filename2) if name)
        reason = error.strerror or str(error)
        return f"{where + ': ' if where else ''}{reason}; check the path and its permissions"
    hint = "" if debug else "rerun with --debug for the traceback and "
    return (
        f"unexpected {type(error).__name__}: {error}. This is a bug in processing-core: "
        f"{hint}report it"
    )
