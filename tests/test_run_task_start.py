"""What `run-task` imports before a task runs: loguru without asyncio (a sixth of a task's
start, `runtime/loguru_start.py`), and everything asyncio gives still there when a task or a
loguru sink asks for it. The start's speed is measured in benchmarks/bench_entrypoint.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import run_cli, subprocess_env

IDENTITY = ["--workflow-name", "w", "--workflow-version", "1", "--task-id", "t"]


def test_a_task_starts_without_asyncio_and_can_still_use_it(tmp_path: Path):
    result_path = tmp_path / "result.json"
    completed = run_cli(
        "run-task", "sample_tasks:UsesAsyncio", *IDENTITY, "--result-path", str(result_path),
        LOG_FORMAT="json",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(result_path.read_text())
    assert result["outputs"] == {"asyncio_before_run": False, "doubled": 42}
    assert "inside the event loop" in completed.stderr


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


COROUTINE_SINK = """
import sys
from processing_core.runtime import loguru_start
{prepare}
loguru_start.import_loguru()
print("asyncio imported:", "asyncio" in sys.modules)
import asyncio
from loguru import logger
logger.remove()
received = []

async def sink(message):
    received.append(message.record["message"])

async def main():
    logger.add(sink)  # looks up the running loop through loguru's helpers
    logger.info("to the coroutine sink")
    await logger.complete()

asyncio.run(main())
print("received:", received)
"""


def test_loguru_coroutine_sinks_work_with_the_deferred_helpers():
    completed = python(COROUTINE_SINK.format(prepare=""))
    assert completed.returncode == 0, completed.stderr
    assert "asyncio imported: False" in completed.stdout
    # Adding the sink looks up the running loop through the deferred helpers.
    assert "received: ['to the coroutine sink']" in completed.stdout


def test_a_loguru_that_wants_other_helpers_is_imported_as_it_is():
    # A newer loguru importing a helper ours lacks: loguru is imported again, unchanged.
    prepare = "del loguru_start.HELPER_FUNCTIONS['get_task_loop']"
    completed = python(COROUTINE_SINK.format(prepare=prepare))
    assert completed.returncode == 0, completed.stderr
    assert "asyncio imported: True" in completed.stdout
    assert "received: ['to the coroutine sink']" in completed.stdout
