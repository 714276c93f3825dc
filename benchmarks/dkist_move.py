"""The real DKIST pipelines moved onto processing_core.compat.dkist by their imports alone.

Not part of the CI suite: it installs about 1.4 GB from the package index. It

1. makes a scratch virtualenv with the Python the pipelines declare (3.13; `--python`, else
   `python3.13` on PATH) holding dkist-processing-core 7.5.0, dkist-processing-common 14.8.0,
   the six released pipelines (their conflicting exact pins merged: the newest wins) and this
   checkout's processing-core[airflow];
2. copies dkist-processing-common and the pipelines and changes only their imports of
   dkist_processing_core to processing_core.compat.dkist (`moved/`, first on PYTHONPATH);
3. exports every workflow with dkist-processing-core (the packages as released) and with
   processing-core (the moved copies), times both, and compares the DAGs Airflow parses
   from each: dag_ids, task ids, edges, retries, retry delays, and each node's resource
   queue (dkist's `queue`, processing-core's resource profile);
4. constructs every task class of every workflow both ways: as dkist does
   (`Cls(recipe_run_id=, workflow_name=, workflow_version=)`) and as `run-task` does
   (`Cls.for_run(context)`);
5. runs one task per pipeline under `processing-core run-task` and says how far it got.

    python benchmarks/dkist_move.py [--work DIR] [--python PYTHON] [--reuse]

`--reuse` keeps an existing scratch virtualenv in DIR (default: a folder under the system's
temporary folder). Prints N/50 workflows identical, N/341 tasks constructed, where each
run-task stopped, and the export time ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINES = {
    "vbi": "2.3.0", "visp": "5.11.0", "cryonirsp": "4.1.1", "dlnirsp": "1.9.0",
    "test": "1.46.0", "ops": "1.11.8",
}  # fmt: skip
CORE, COMMON = "7.5.0", "14.8.0"
VERSION = "1.0.0"  # BUILD_VERSION of both exports
RUN_TASK_SECONDS = 60


def main() -> None:
    options = arguments()
    work = Path(options.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    venv = work / "venv"
    python = venv / "bin" / "python"
    if not (options.reuse and python.exists()):
        make_venv(options.python, venv, work)
    else:  # this checkout's processing-core, whatever the virtualenv had
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                        "--force-reinstall", str(REPO_ROOT)], check=True)  # fmt: skip
    moved = move_imports(python, work / "moved")
    report = {"pipelines": {}}
    dkist_seconds = ours_seconds = 0.0
    identical = total = 0
    constructed = {"dkist": 0, "moved-dkist-way": 0, "moved-run-task-way": 0, "nodes": 0}
    for pipeline in PIPELINES:
        theirs, seconds = export_with_dkist(python, pipeline, work / "dags-dkist" / pipeline)
        dkist_seconds += seconds
        ours, seconds = export_with_compat(venv, pipeline, work / "dags-compat" / pipeline, moved)
        ours_seconds += seconds
        graphs_dkist = parse_graphs(python, theirs, pythonpath=None)
        graphs_ours = parse_graphs(python, ours, pythonpath=None)
        differences = compare(graphs_dkist, graphs_ours)
        total += len(graphs_dkist)
        identical += sum(1 for dag_id in graphs_dkist if dag_id not in differences)
        built = construct(python, pipeline, moved)
        for key in constructed:
            constructed[key] += built["counts"][key]
        ran = run_one_task(venv, pipeline, moved, work, built["constants stored first"])
        report["pipelines"][pipeline] = {
            "workflows": len(graphs_dkist),
            "differences": differences,
            "construction": built,
            "run_task": ran,
        }
    (work / "report.json").write_text(json.dumps(report, indent=2))
    print(f"workflows identical: {identical}/{total}")
    nodes = constructed["nodes"]
    print(
        f"tasks constructed: {constructed['moved-dkist-way']}/{nodes} dkist's way, "
        f"{constructed['moved-run-task-way']}/{nodes} run-task's way "
        f"(dkist-processing-core itself: {constructed['dkist']}/{nodes})"
    )
    for pipeline, found in report["pipelines"].items():
        ran = found["run_task"]
        print(f"run-task {pipeline}: {ran['task']}: {ran['reached']}")
        for failure in found["construction"]["failures"][:3]:
            print(f"  not constructed: {failure}")
        for dag_id, difference in list(found["differences"].items())[:3]:
            print(f"  differs: {dag_id}: {difference}")
    print(
        f"export time: dkist-processing-core {dkist_seconds:.1f} s, processing-core "
        f"{ours_seconds:.1f} s, ratio {ours_seconds / dkist_seconds:.2f}x"
    )
    print(f"details: {work / 'report.json'}")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work", default=str(Path(tempfile.gettempdir()) / "processing-core-dkist-move")
    )
    parser.add_argument("--python", default=shutil.which("python3.13") or "python3.13")
    parser.add_argument("--reuse", action="store_true", help="Keep an existing virtualenv.")
    return parser.parse_args()


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


def make_venv(python: str, venv: Path, work: Path) -> None:
    """The scratch virtualenv: dkist's packages, the pipelines' merged pins, processing-core."""
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    wheels = work / "wheels"
    names = [f"dkist-processing-{name}=={version}" for name, version in PIPELINES.items()]
    subprocess.run([*pip[:-2], "download", "--quiet", "--no-deps", "-d", str(wheels), *names],
                   check=True)  # fmt: skip
    # The pipelines pin some of the same packages differently: the newest pin of each.
    pins: dict[str, tuple[tuple[int, ...], str]] = {}
    for wheel in wheels.glob("*.whl"):
        listed = run([str(venv / "bin" / "python"), "-c", READ_REQUIREMENTS, str(wheel)])
        for requirement in json.loads(listed.stdout):
            name, _, version = requirement.partition("==")
            key = name.lower().replace("_", "-")
            if key.startswith("dkist-processing-common"):
                continue
            order = tuple(int(p) for p in re.findall(r"[0-9]+", version)) if version else ()
            if key not in pins or order > pins[key][0]:
                pins[key] = (order, requirement)
    requirements = [
        f"dkist-processing-core=={CORE}",
        f"dkist-processing-common=={COMMON}",
        *(requirement for _, requirement in pins.values()),
    ]
    subprocess.run([*pip, *requirements], check=True)
    subprocess.run([*pip, "--no-deps", *map(str, wheels.glob("*.whl"))], check=True)
    subprocess.run([*pip, f"{REPO_ROOT}[airflow]"], check=True)


READ_REQUIREMENTS = """
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    (name,) = [n for n in wheel.namelist() if n.endswith('.dist-info/METADATA')]
    lines = wheel.read(name).decode().splitlines()
print(json.dumps([l.split(':', 1)[1].strip() for l in lines
                  if l.startswith('Requires-Dist:') and 'extra ==' not in l]))
"""

_FROM = re.compile(r"^(\s*)from dkist_processing_core((?:\.\w+)*) import", re.M)
_IMPORT = re.compile(r"^(\s*)import dkist_processing_core((?:\.\w+)*)\b", re.M)


def move_imports(python: Path, moved: Path) -> Path:
    """Copies of dkist-processing-common and the pipelines whose imports of
    dkist_processing_core name processing_core.compat.dkist: nothing else changes."""
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    site_packages = Path(site.stdout.strip())
    shutil.rmtree(moved, ignore_errors=True)
    moved.mkdir(parents=True)
    changed_lines = changed_files = 0
    for name in ["common", *PIPELINES]:
        package = f"dkist_processing_{name}"
        shutil.copytree(site_packages / package, moved / package)
    for path in moved.rglob("*.py"):
        text = path.read_text()
        count = len(_FROM.findall(text)) + len(_IMPORT.findall(text))
        if not count:
            continue
        text = _FROM.sub(lambda m: f"{m[1]}from processing_core.compat.dkist{m[2]} import", text)
        text = _IMPORT.sub(
            lambda m: f"{m[1]}import processing_core.compat.dkist{m[2]} as dkist_processing_core",
            text,
        )
        path.write_text(text)
        changed_files += 1
        changed_lines += count
    print(f"moved: {changed_lines} import lines changed in {changed_files} files")
    return moved


def environment(pythonpath: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "AIRFLOW"))}
    env |= {"BUILD_VERSION": VERSION, "EVENTS_ENABLED": "false"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


EXPORT_WITH_DKIST = """
import importlib, sys
from dkist_processing_core.build_utils import export_dags
package = importlib.import_module(sys.argv[1])
export_dags(package, sys.argv[2])
"""


def export_with_dkist(python: Path, pipeline: str, out: Path) -> tuple[Path, float]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    done = run([str(python), "-c", EXPORT_WITH_DKIST, f"dkist_processing_{pipeline}.workflows",
                str(out)], env=environment(None), cwd=out)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"dkist's export of {pipeline} failed:\n{done.stderr[-3000:]}")
    return out, seconds


def export_with_compat(venv: Path, pipeline: str, out: Path, moved: Path) -> tuple[Path, float]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = run([str(venv / "bin" / "processing-core"), "export",
                f"dkist_processing_{pipeline}.workflows", "--out", str(out),
                "--target", "kubernetes"], env=environment(moved), cwd=moved.parent)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(f"processing-core's export of {pipeline} failed:\n{done.stderr[-3000:]}")
        out.mkdir(parents=True, exist_ok=True)
    return out, seconds


PARSE_GRAPHS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
graphs = {}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for task in dag.tasks:
        if type(task).__name__ == 'KubernetesPodOperator':  # processing-core: the profile
            profile = dict(task.node_selector or {}).get('processing-core/profile')
            queue = profile.replace('-', '_') if profile else 'default'
        else:  # dkist's BashOperator: its queue
            queue = task.queue
        tasks[task.task_id] = {'retries': task.retries,
                               'retry_delay': task.retry_delay.total_seconds(), 'queue': queue}
    edges = sorted([u, t.task_id] for t in dag.tasks for u in t.upstream_task_ids)
    graphs[dag_id] = {'tasks': tasks, 'edges': edges}
print(json.dumps({'graphs': graphs, 'errors': {k: v[-300:] for k, v in bag.import_errors.items()}}))
"""


def parse_graphs(python: Path, folder: Path, pythonpath: Path | None) -> dict[str, object]:
    done = run([str(python), "-c", PARSE_GRAPHS, str(folder)], env=environment(pythonpath))
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    if parsed["errors"]:
        print(f"import errors in {folder}: {parsed['errors']}")
    return parsed["graphs"]


def compare(theirs: dict, ours: dict) -> dict[str, str]:
    """dag_id -> what differs, for every DAG of dkist's export."""
    differences = {}
    for dag_id, graph in theirs.items():
        other = ours.get(dag_id)
        if other is None:
            differences[dag_id] = "no such DAG in processing-core's export"
        elif graph["edges"] != other["edges"]:
            differences[dag_id] = "edges differ"
        elif graph["tasks"] != other["tasks"]:
            mine, theirs_ = other["tasks"], graph["tasks"]
            changed = sorted(t for t in theirs_ if theirs_[t] != mine.get(t))
            first = changed[0]
            differences[dag_id] = (
                f"tasks differ: {changed[:3]}: {theirs_[first]} vs {mine.get(first)}"
            )
    return differences


CONSTRUCT = """
import json, re, sys
package, side, recipe_run_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
plausible = json.loads(sys.argv[4])
from dkist_processing_common._util.constants import ConstantsDb
from dkist_processing_common._util.tags import TagDB
counts = {"dkist": 0, "moved-dkist-way": 0, "moved-run-task-way": 0, "nodes": 0}
failures, seeded = [], {}
for namespace in ("constant", "constants_audit"):
    TagDB(recipe_run_id, "dkist-move", namespace).purge()
if side == "dkist":
    from dkist_processing_core.build_utils import extract_workflows_from_package
    import importlib
    workflows = extract_workflows_from_package(importlib.import_module(package))
else:
    from processing_core.build_utils import discover_workflows
    from processing_core.definition.task import RunContext
    workflows = discover_workflows(package)

def built(make):
    # A task of a recipe run reads constants an earlier task (ParseL0...) stored: store a
    # plausible one for each the task asks for, as that task would have.
    for _ in range(50):
        try:
            return make()
        except KeyError as error:
            found = re.fullmatch(r"Constant (\\w+) does not exist", str(error.args[0]))
            if not found:
                raise
            key = found[1]
            ConstantsDb(recipe_run_id, "dkist-move")[key] = seeded[key] = plausible.get(key, 1)
    raise RuntimeError("asks for more than 50 constants")

for workflow in workflows:
    for node in workflow.nodes:
        task = node.task
        counts["nodes"] += 1
        arguments = dict(recipe_run_id=recipe_run_id, workflow_name=workflow.workflow_name,
                         workflow_version=workflow.workflow_version)
        ways = [("dkist", lambda: task(**arguments))] if side == "dkist" else [
            ("moved-dkist-way", lambda: task(**arguments)),
            ("moved-run-task-way", lambda: task.for_run(RunContext(
                workflow.workflow_name, workflow.workflow_version, task.__name__,
                parameters={"recipe_run_id": recipe_run_id}))),
        ]
        for way, make in ways:
            try:
                built(make)
                counts[way] += 1
            except Exception as error:
                failures.append(f"{task.__module__}:{task.__name__} ({way}): "
                                f"{type(error).__name__}: {str(error)[:200]}")
for namespace in ("constant", "constants_audit"):
    TagDB(recipe_run_id, "dkist-move", namespace).purge()
print(json.dumps({"counts": counts, "failures": sorted(set(failures)), "seeded": seeded}))
"""
# What a recipe run's parse task would have stored, for the constants tasks read when they
# are built (OBS_IP_START_TIME dates the instrument parameters); others get 1.
PLAUSIBLE_CONSTANTS = {"OBS_IP_START_TIME": "2024-05-01T18:00:00.000", "WAVELENGTH": 1083.0}
# ... and the arm a recipe run of the instrument names (cryonirsp's SP arm, dlnirsp's VIS).
ARM_IDS = {"cryonirsp": "SP", "dlnirsp": "VIS"}
RECIPE_RUN_ID = 987_654_321  # far from any real one: its constants are cleared before and after


def construct(python: Path, pipeline: str, moved: Path) -> dict[str, object]:
    package = f"dkist_processing_{pipeline}.workflows"
    found: dict[str, object] = {"counts": {}, "failures": []}
    for side, pythonpath in (("dkist", None), ("moved", moved)):
        plausible = PLAUSIBLE_CONSTANTS | (
            {"ARM_ID": ARM_IDS[pipeline]} if pipeline in ARM_IDS else {}
        )
        done = run([str(python), "-c", CONSTRUCT, package, side, str(RECIPE_RUN_ID),
                    json.dumps(plausible)], env=environment(pythonpath),
                   cwd=moved.parent)  # fmt: skip
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise SystemExit(f"constructing {pipeline}'s tasks ({side}) failed:\n"
                             f"{done.stderr[-3000:]}")  # fmt: skip
        result = json.loads(lines[-1])
        counts = found["counts"]
        assert isinstance(counts, dict)
        for key, value in result["counts"].items():
            if value or key not in counts:
                counts[key] = value
        if side == "moved":
            found["failures"] = result["failures"]
            found["constants stored first"] = result["seeded"]
    return found


FIRST_TASK = """
import json, sys
from graphlib import TopologicalSorter
from processing_core.build_utils import discover_workflows
own = sys.argv[1].rpartition(".")[0]  # the pipeline's own package
workflow = max(discover_workflows(sys.argv[1]), key=lambda w: (len(w.nodes), w.name))
nodes = {n.task_id: n for n in workflow.nodes}
order = list(TopologicalSorter(workflow.upstream_task_ids()).static_order())
first = next((t for t in order if nodes[t].task_class.__module__.startswith(own)), order[0])
node = nodes[first]
print(json.dumps({"task": node.task_class.import_path(), "task_id": first,
                  "workflow": workflow.workflow_name, "version": workflow.workflow_version}))
"""

SEED = """
import json, sys
from dkist_processing_common._util.constants import ConstantsDb
from dkist_processing_common._util.tags import TagDB
recipe_run_id, constants = int(sys.argv[1]), json.loads(sys.argv[2])
for namespace in ("constant", "constants_audit"):
    TagDB(recipe_run_id, "dkist-move", namespace).purge()
database = ConstantsDb(recipe_run_id, "dkist-move")
for key, value in constants.items():
    database[key] = value
"""


def run_one_task(venv: Path, pipeline: str, moved: Path, work: Path,
                 constants: dict[str, object]) -> dict[str, str]:  # fmt: skip
    """Start the pipeline's own first task of its largest workflow under run-task, with the
    constants its recipe run would hold: how far did it get (past construction into its
    run(), and where it stopped, or where it waited when time was up)?"""
    env = environment(moved)
    python = str(venv / "bin" / "python")
    chosen = run([python, "-c", FIRST_TASK, f"dkist_processing_{pipeline}.workflows"], env=env,
                 cwd=moved.parent)  # fmt: skip
    task = json.loads(chosen.stdout.strip().splitlines()[-1])
    run([python, "-c", SEED, str(RECIPE_RUN_ID), json.dumps(constants)], env=env, check=True)
    declared = [{"name": "recipe_run_id", "type": "integer", "required": True, "minimum": 0}]
    # dkist's services retry forever by default (retry_tries -1): a few tries here.
    retries = {"retry_tries": 2, "retry_delay": 1, "retry_max_delay": 2, "retry_jitter": [0, 1]}
    process = subprocess.Popen(
        [str(venv / "bin" / "processing-core"), "run-task", task["task"],
         f"--workflow-name={task['workflow']}", f"--workflow-version={task['version']}",
         f"--task-id={task['task_id']}", f'--parameters={{"recipe_run_id": {RECIPE_RUN_ID}}}',
         f"--declared-parameters={json.dumps(declared)}", "--result-path=-"],
        env={**env, "LOG_FORMAT": "human", "RETRY_CONFIG": json.dumps(retries),
             "PYTHONFAULTHANDLER": "1"},
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=RUN_TASK_SECONDS)
        note = ""
    except subprocess.TimeoutExpired:
        # Still waiting (on a service DKIST has and this machine has not): where? Python's
        # fault handler prints every thread's stack on SIGABRT.
        process.send_signal(signal.SIGABRT)
        out, err = process.communicate(timeout=60)
        note = f" (still waiting after {RUN_TASK_SECONDS} s)"
    finally:
        run([python, "-c", SEED, str(RECIPE_RUN_ID), "{}"], env=env)  # clears them
    lines = out.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    return {
        "task": task["task"],
        "exit_code": str(process.returncode),
        "reached": reached(err + out, result) + note,
    }


def reached(log: str, result: dict) -> str:
    """How far a run-task got, from its log's tracebacks (or the fault handler's stacks)
    and its result."""
    if result.get("status") == "success":
        return "ran to the end (success)"
    frames = re.findall(r'File "([^"]+)", line (\d+),? in (\w+)', log)
    stages = [name for path, _, name in frames if "dkist_processing" in path]
    stage = next((s for s in ("run", "pre_run", "post_run") if s in stages), None)
    own = [f for f in frames if "dkist_processing" in f[0]]
    where = f"{Path(own[-1][0]).name}:{own[-1][1]} in {own[-1][2]}" if own else "?"
    message = str(result.get("message", "")).splitlines()[0][:200] if result else ""
    if stage is None:
        return f"not into the task's own code; stopped at {where}: {message}"
    return f"past construction, into its {stage}(); stopped at {where}: {message}".rstrip(": ")


if __name__ == "__main__":
    sys.exit(main())
