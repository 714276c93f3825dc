"""loguru without asyncio until something asks for an event loop.

loguru imports asyncio when it is imported (and asyncio imports ssl, sockets and
subprocesses): about 16 ms, a sixth of a task's start, only to look up the running event
loop when a coroutine sink is added or awaited, which `run-task` never does. Its two loop
helpers (`loguru._asyncio_loop`) are put in place before loguru is imported, importing
asyncio when first called: the same answers, paid for only by whoever uses them.
"""

from __future__ import annotations

import sys
import types
from typing import Any

HELPERS = "loguru._asyncio_loop"


def _get_task_loop(task: Any) -> Any:
    return task.get_loop()


def _get_running_loop() -> Any:
    import asyncio

    return asyncio.get_running_loop()


# What loguru imports from its helpers module.
HELPER_FUNCTIONS: dict[str, Any] = {
    "get_task_loop": _get_task_loop,
    "get_running_loop": _get_running_loop,
    "load_loop_functions": lambda: (_get_task_loop, _get_running_loop),
}


def import_loguru() -> None:
    """Import loguru with asyncio deferred (nothing to do if loguru is imported already).

    A loguru whose helpers are named differently fails to import with ours: it is then
    imported again as it is, so a newer loguru costs the 16 ms and nothing else."""
    if "loguru" in sys.modules or HELPERS in sys.modules:
        return
    helpers = types.ModuleType(HELPERS, "loguru's event loop helpers, asyncio imported on use")
    for name, function in HELPER_FUNCTIONS.items():
        setattr(helpers, name, function)
    sys.modules[HELPERS] = helpers
    try:
        import loguru
    except ImportError:
        for name in [n for n in sys.modules if n == "loguru" or n.startswith("loguru.")]:
            del sys.modules[name]
        import loguru  # noqa: F401
