"""Local runs: `processing-core run` of a 20-task no-op workflow beside running the same 20
`run-task` commands one after another (what a hand-written script would do).

Both start one process per task; the runner adds its scheduling, run folder and progress,
and runs independent tasks at once (`--workers`, default 2 on this 2-core machine). Prints
both and the ratio (goal: below 1, faster thanks to parallelism).

    python benchmarks/bench_run.py [--repeat 3] [--workers 2]
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cli = (
        shutil.which("processing-core", path=str(Path(sys.executable).parent)) or "processing-core"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "EVENTS_ENABLED": "false"}
    timings: dict[str, list[float]] = {"processing-core run": [], "20 x run-task": []}
    for _ in range(args.repeat):  # interleaved
        with tempfile.TemporaryDirectory() as work:
            timings["processing-core run"].append(runner(cli, env, Path(work), args.workers))
        with tempfile.TemporaryDirectory() as work:
            timings["20 x run-task"].append(sequential(cli, env, Path(work)))
    medians = {label: statistics.median(values) for label, values in timings.items()}
    print(f"20-task no-op workflow, median of {args.repeat} runs, --workers {args.workers}:")
    for label, value in medians.items():
        print(f"  {label:<22} {value:7.2f} s")
    ratio = medians["processing-core run"] / medians["20 x run-task"]
    print(f"  ratio run / sequential run-task: {ratio:.2f} (goal < 1)")


if __name__ == "__main__":
    main()
