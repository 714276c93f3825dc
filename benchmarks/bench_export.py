"""Export cost: 1,000 workflows x 20 tasks, and one workflow at 10 / 100 / 1,000 tasks.

Prints time and cost per task; the reference is the per-task cost of the smallest case,
so a ratio near 1.0 at every size shows that cost grows linearly.

    python benchmarks/bench_export.py [--workflows 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._synthetic import synthetic_workflow
from processing_core.build_utils import export_workflows
from processing_core.config import load_settings
from processing_core.nodes.dag import ExportOptions


def timed_export(workflows: list, out: Path) -> float:
    options = ExportOptions.create(target="kubernetes", settings=load_settings())
    start = time.perf_counter()
    export_workflows(workflows, out, options)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for tasks in (10, 100, 1000):
            workflow = synthetic_workflow(0, tasks)
            seconds = min(timed_export([workflow], Path(folder) / f"one-{tasks}") for _ in range(3))
            rows.append((f"1 workflow x {tasks} tasks", tasks, seconds))
        workflows = [synthetic_workflow(i, 20) for i in range(args.workflows)]
        seconds = timed_export(workflows, Path(folder) / "many")
        rows.append((f"{args.workflows} workflows x 20 tasks", args.workflows * 20, seconds))
    reference = rows[0][2] / rows[0][1]
    print(f"{'case':<28} {'seconds':>9} {'ms/task':>9} {'ratio to 10-task cost':>22}")
    for label, tasks, seconds in rows:
        per_task = seconds / tasks
        print(f"{label:<28} {seconds:>9.3f} {per_task * 1000:>9.3f} {per_task / reference:>22.2f}")


if __name__ == "__main__":
    main()
