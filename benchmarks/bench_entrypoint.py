"""Entrypoint cost: `processing-core run-task` of a no-op task beside `python -c` running it.

The reference imports the same task and runs the same lifecycle without the CLI, so the
ratio is what the command line, settings and logging set-up add to every task start.

    python benchmarks/bench_entrypoint.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDENTITY = ["--workflow-name", "w", "--workflow-version", "1", "--task-id", "noop"]
REFERENCE = (
    "from processing_core import RunContext; from noop_task import Noop; "
    "task = Noop(RunContext('w', '1', 'noop'))\n"
    "with task: task()"
)


def seconds(command: list[str]) -> float:
    # Events have their own benchmark (bench_events.py); here they would only add the broker.
    env = {**os.environ, "PYTHONPATH": str(HERE), "EVENTS_ENABLED": "false"}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True, cwd=HERE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    cli = (
        shutil.which("processing-core", path=str(Path(sys.executable).parent)) or "processing-core"
    )
    commands = {
        "run-task": [cli, "run-task", "noop_task:Noop", *IDENTITY],
        "python -c": [sys.executable, "-c", REFERENCE],
    }
    timings: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):  # interleaved
        for name, command in commands.items():
            timings[name].append(seconds(command))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(f"No-op task, median of {args.runs} runs:")
    for name, value in medians.items():
        print(f"  {name:<10} {value * 1000:8.1f} ms")
    print(f"  ratio run-task / python -c: {medians['run-task'] / medians['python -c']:.2f}")


if __name__ == "__main__":
    main()
