"""Export cost beside dkist-processing-core 7.5's own export, and how it grows.

1. The reference (skipped with --no-reference): synthetic workflows written against
   dkist_processing_core (1,000 workflows x 20 tasks, and 1 workflow x 1,000 tasks, each task
   depending on the whole previous layer of four), exported by dkist-processing-core 7.5.0's
   `build_utils.export_dags` and, moved onto processing_core.compat.dkist by their imports
   alone, by processing-core's. Both in one scratch Python 3.13 virtualenv (dkist-processing-
   core requires 3.13 and brings Airflow 3.3.1; about 1 GB from the package index, kept in
   --work for --reuse), each export in a fresh process, interleaved and repeated; prints the
   medians of the export call and of the whole process, and the ratios.
2. Growth, in this process with processing-core's own API: one workflow at 10 / 100 / 1,000
   tasks and --workflows x 20 tasks; the cost per task beside the 10-task case's.

    python benchmarks/bench_export.py [--workflows 1000] [--repeat 3] [--work DIR] [--reuse]
                                      [--python PYTHON3.13] [--no-reference]
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

from benchmarks._synthetic import synthetic_workflow
from processing_core.build_utils import export_workflows
from processing_core.config import load_settings
from processing_core.nodes.dag import ExportOptions

DKIST_CORE = "7.5.0"

# The synthetic pipeline, written against dkist_processing_core: a module of task classes and
# one module per case holding its workflows (dkist's export finds them in the modules of the
# package it is given).
TASKS = """
from dkist_processing_core import TaskBase

for _number in range({count}):
    _name = f"T{{_number:04d}}"
    globals()[_name] = type(_name, (TaskBase,), {{"run": lambda self: None}})
"""
WORKFLOWS = """
from dkist_processing_core import Workflow
from bench_dkist import tasks

for _index in range({workflows}):
    _workflow = Workflow(input_data="raw", output_data="calibrated", category="bench",
                         detail=f"w{{_index}}", workflow_package=__package__)
    _previous, _layer = None, []
    for _number in range({tasks}):
        _task = getattr(tasks, f"T{{_number:04d}}")
        _workflow.add_node(_task, upstreams=_previous)
        _layer.append(_task)
        if len(_layer) == 4:
            _previous, _layer = _layer, []
    globals()[f"w{{_index}}"] = _workflow
del _workflow  # exports find workflows among the module's names: each once
"""
EXPORT = """
import importlib, json, sys, time
started = time.perf_counter()
if sys.argv[1] == "dkist":
    from dkist_processing_core.build_utils import export_dags
else:
    from processing_core.compat.dkist.build_utils import export_dags
package = importlib.import_module(sys.argv[2])
defined = time.perf_counter()
written = export_dags(package, sys.argv[3])
done = time.perf_counter()
print(json.dumps({"export": done - defined, "files": len(written)}))
"""


def write_pipeline(root: Path, cases: dict[str, tuple[int, int]], moved: bool) -> Path:
    """The synthetic pipeline under root; `moved`: its imports name processing-core's compat."""
    package = root / "bench_dkist"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    largest = max(tasks for _, tasks in cases.values())
    sources = {package / "tasks.py": TASKS.format(count=largest)}
    for case, (workflows, tasks) in cases.items():
        (package / case).mkdir()
        (package / case / "__init__.py").write_text("")
        sources[package / case / "defined.py"] = WORKFLOWS.format(workflows=workflows, tasks=tasks)
    for path, text in sources.items():
        if moved:
            text = text.replace("from dkist_processing_core import",
                                "from processing_core.compat.dkist import")  # fmt: skip
        path.write_text(text)
    return root


def reference_venv(work: Path, reuse: bool, base: str) -> Path:
    """Python 3.13 with dkist-processing-core 7.5.0 and this checkout's processing-core."""
    venv = work / "venv"
    python = venv / "bin" / "python"
    if reuse and python.exists():
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                        "--force-reinstall", str(REPO_ROOT)], check=True)  # fmt: skip
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"dkist-processing-core=={DKIST_CORE}", str(REPO_ROOT)], check=True)
    return python


def export_once(python: Path, side: str, root: Path, case: str, out: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "AIRFLOW"))}
    env |= {"PYTHONPATH": str(root), "BUILD_VERSION": "1.0.0", "EVENTS_ENABLED": "false"}
    started = time.perf_counter()
    done = subprocess.run([str(python), "-c", EXPORT, side, f"bench_dkist.{case}", str(out)],
                          env=env, cwd=out, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{side}'s export of {case} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"export": result["export"], "process": wall, "files": result["files"]}


def against_dkist(args: argparse.Namespace) -> None:
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    python = reference_venv(work, args.reuse, args.python)
    cases = {"many": (args.workflows, 20), "big": (1, 1000)}
    roots = {"dkist": work / "dkist-side", "compat": work / "compat-side"}
    for side, root in roots.items():
        shutil.rmtree(root, ignore_errors=True)
        write_pipeline(root, cases, moved=side == "compat")
    print(f"Export beside dkist-processing-core {DKIST_CORE}'s (Python 3.13, median of "
          f"{args.repeat} interleaved rounds, each export a fresh process):")  # fmt: skip
    for case, (workflows, tasks) in cases.items():
        found: dict[str, list[dict[str, float]]] = {side: [] for side in roots}
        for _ in range(args.repeat):
            for side, root in roots.items():
                found[side].append(export_once(python, side, root, case, work / "out" / side))
        files = {side: {round(r["files"]) for r in runs} for side, runs in found.items()}
        assert files["dkist"] == files["compat"] == {workflows}, files
        medians = {
            side: {key: statistics.median(r[key] for r in runs) for key in ("export", "process")}
            for side, runs in found.items()
        }
        label = f"{workflows} workflow(s) x {tasks} tasks"
        for key in ("export", "process"):
            dkist, ours = medians["dkist"][key], medians["compat"][key]
            what = "export_dags call" if key == "export" else "whole process"
            print(f"  {label:<28} {what:<17} dkist {dkist:7.2f} s  processing-core "
                  f"{ours:7.2f} s  ratio {ours / dkist:5.2f}")  # fmt: skip


def timed_export(workflows: list, out: Path) -> float:
    options = ExportOptions.create(target="kubernetes", settings=load_settings())
    start = time.perf_counter()
    export_workflows(workflows, out, options)
    return time.perf_counter() - start


def growth(args: argparse.Namespace) -> None:
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
    print("Growth of processing-core's export (its own API, best of 3 for one workflow):")
    print(f"  {'case':<28} {'seconds':>9} {'ms/task':>9} {'ratio to 10-task case':>24}")
    for label, tasks, seconds in rows:
        per_task = seconds / tasks
        print(f"  {label:<28} {seconds:>9.3f} {per_task * 1000:>9.3f} "
              f"{per_task / reference:>24.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--work", default=str(Path(tempfile.gettempdir()) / "processing-core-bench-export")
    )
    parser.add_argument("--reuse", action="store_true", help="Keep the scratch virtualenv.")
    parser.add_argument("--python", default=shutil.which("python3.13") or "python3.13",
                        help="The Python 3.13 the scratch virtualenv is made with.")  # fmt: skip
    parser.add_argument("--no-reference", action="store_true", help="Skip dkist's export.")
    args = parser.parse_args()
    if not args.no_reference:
        against_dkist(args)
    growth(args)


if __name__ == "__main__":
    main()
