"""Local runs: `processing-core run` of a 20-task no-op workflow beside running the same 20
`run-task` commands one after another (what a hand-written script would do).

All start one process per task. `run --workers 1` does what the script does plus its
scheduling, run folder and progress: its ratio to the script is the runner's own cost (goal:
close to 1). `run --workers N` (default 2 on this 2-core machine) adds running independent
tasks at once: its ratio shows what parallelism buys. Interleaved, repeated; medians.

    python benchmarks/bench_run.py [--repeat 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.noop_pipeline import noop_20


def sequential(cli: str, env: dict[str, str], work: Path) -> float:
    edges = noop_20.upstream_task_ids()
    results: dict[str, dict] = {}
    start = time.perf_counter()
    for node in noop_20.nodes:  # added in dependency order
        inputs = {upstream: results[upstream] for upstream in edges[node.task_id]}
        result_path = work / f"{node.task_id}.json"
        subprocess.run(
            [cli, "run-task", node.task_class.import_path(), f"--workflow-name={noop_20.name}",
             "--workflow-version=1.0.0", f"--task-id={node.task_id}",
             f"--inputs={json.dumps(inputs)}", f"--result-path={result_path}"],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        results[node.task_id] = json.loads(result_path.read_text())
    return time.perf_counter() - start


def runner(cli: str, env: dict[str, str], work: Path, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [cli, "run", "benchmarks.noop_pipeline", "--run-dir", str(work / "runs"),
         "--workers", str(workers)],
        check=True, env=env, capture_output=True, cwd=REPO_ROOT,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cli = (
        shutil.which("processing-core", path=str(Path(sys.executable).parent)) or "processing-core"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "EVENTS_ENABLED": "false"}
    script, one, many = "20 x run-task", "run --workers 1", f"run --workers {args.workers}"
    timings: dict[str, list[float]] = {script: [], one: [], many: []}
    for _ in range(args.repeat):  # interleaved
        with tempfile.TemporaryDirectory() as work:
            timings[script].append(sequential(cli, env, Path(work)))
        with tempfile.TemporaryDirectory() as work:
            timings[one].append(runner(cli, env, Path(work), 1))
        with tempfile.TemporaryDirectory() as work:
            timings[many].append(runner(cli, env, Path(work), args.workers))
    medians = {label: statistics.median(values) for label, values in timings.items()}
    print(f"20-task no-op workflow, median of {args.repeat} interleaved runs:")
    for label, value in medians.items():
        print(f"  {label:<22} {value:7.2f} s")
    print(f"  ratio {one} / {script}: {medians[one] / medians[script]:.2f} "
          "(the runner's own cost; goal close to 1)")  # fmt: skip
    print(f"  ratio {many} / {script}: {medians[many] / medians[script]:.2f} "
          "(with parallelism; goal < 1)")  # fmt: skip


if __name__ == "__main__":
    main()
