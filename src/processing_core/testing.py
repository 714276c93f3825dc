"""Helpers for testing a pipeline: one task, a whole workflow, the export and Airflow's view.

    from processing_core.testing import run_task, run_workflow, assert_exports

    def test_calibrate():
        result = run_task(Calibrate, workflow=l0_to_l1, inputs={"ingest": {...}})
        assert result.outputs["frame_count"] == 4

`run_task` and `run_workflow(in_process=True)` run in the test's own process (a debugger
and coverage see the task); `run_workflow` without it goes through `processing-core run`,
each task in its own process exactly as in production. Parameters get their declared
defaults and are checked as a triggered run's are. Either way `run_workflow` returns how
every task ended (a failed task does not raise) and can resume an earlier run:

    first = run_workflow(flow, in_process=True)
    assert first.states["calibrate"] == "failed"
    again = run_workflow(flow, in_process=True, resume=first)  # reruns what did not succeed
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any, Literal

from processing_core.definition import naming
from processing_core.definition.foreach import ForeachError, items_of
from processing_core.definition.parameters import resolve_parameters
from processing_core.definition.task import RunContext, TaskBase
from processing_core.definition.workflow import Workflow
from processing_core.local.dates import RunDates, run_dates
from processing_core.local.run_folder import FINISHED, folder_name, instance_key, split_key
from processing_core.runtime.result import TaskResult, check_result


def run_task(
    task: type[TaskBase],
    *,
    workflow: Workflow | None = None,
    task_id: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
    force: bool = False,
    **run: Any,
) -> TaskResult:
    """Run one task's lifecycle here (pre_run, run, post_run; rollback on failure) and return
    its result (`skipped`, without running, when its complete() says its work is done, unless
    `force`). The task's own exception propagates, so the test shows where it failed.

    With `workflow`, the task gets the context it gets in a run of that workflow (parameter
    defaults, checks, only its upstreams as inputs); `task_id` picks the node when the class
    is in it twice. `run` takes RunContext's other fields (logical_date, run_id, ...).
    """
    task_id = task_id or _node_id(task, workflow)
    if workflow is not None:
        context = workflow.run_context(task_id, parameters=parameters, inputs=inputs, **run)
    else:
        context = RunContext(
            "test", "0", task_id, parameters=dict(parameters or {}), inputs=dict(inputs or {}),
            **run,
        )  # fmt: skip
    instance = task.for_run(context)
    with instance:
        skipped = not force and instance.work_is_complete()
        if not skipped:
            instance()
    # As run-task checks it: extra only for assets this node produces.
    declared = _declared(task, task_id, workflow)
    produced = [asset.key for asset in declared.produces]
    check_result(instance.outputs, instance.metrics, task.__name__, instance.asset_extra, produced)
    message = instance.message if isinstance(instance.message, str) else str(instance.message)
    status: Literal["success", "skipped"] = "skipped" if skipped else "success"
    extra = {} if skipped else dict(instance.asset_extra)
    return TaskResult(status, message, dict(instance.outputs), dict(instance.metrics), extra)


def _declared(task: type[TaskBase], task_id: str, workflow: Workflow | None) -> type[TaskBase]:
    """The class as the node declares it (add_node's overrides), or the class itself."""
    if workflow is not None:
        for node in workflow.nodes:
            if node.task_id == task_id:
                return node.declared
    return task


@dataclass
class WorkflowRun:
    """What a run of a whole workflow left: each task's state and result (None if it has
    none), and, through `processing-core run`, the run's folder and output. In process, the
    exception of each task that failed is in `errors` (raise it to see its traceback)."""

    states: dict[str, str]
    results: dict[str, dict[str, Any] | None]
    folder: Path | None = None
    output: str = ""
    exit_code: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and set(self.states.values()) <= set(FINISHED)

    @property
    def failed(self) -> list[str]:
        """The tasks (and instances) that did not finish: failed, upstream_failed, ..."""
        return [task for task, state in self.states.items() if state not in FINISHED]

    def outputs(self, task_id: str) -> dict[str, Any]:
        """A task's outputs (an instance of a mapped node: `outputs("process_frame[3]")`)."""
        result = self.results.get(task_id) or {}
        return dict(result.get("outputs", {}))

    def instance_outputs(self, task_id: str) -> list[dict[str, Any]]:
        """A mapped node's instances' outputs, in map order (what its downstream tasks get)."""
        return [self.outputs(key) for key in _instance_keys(self.results, task_id)]


def run_workflow(
    workflow: Workflow,
    *,
    parameters: Mapping[str, Any] | None = None,
    in_process: bool = False,
    run_dir: Path | None = None,
    version: str | None = None,
    workers: int = 2,
    package: str | None = None,
    resume: WorkflowRun | None = None,
    force: bool = False,
    logical_date: datetime | str | None = None,
) -> WorkflowRun:
    """Run every task of `workflow` and return how each ended (a failed task does not raise:
    its state says `failed`, its downstream `upstream_failed`).

    Here, one task after another (`in_process=True`; each failed task's exception is in
    `errors`), or through `processing-core run` in `run_dir` (required then; the package is
    the workflow's module's unless `package` says otherwise). `resume`: an earlier run of the
    same workflow; what did not succeed in it runs again, the rest is reused (its parameters
    too). `force`: run tasks even when their complete() says the work is done.
    `logical_date`: the run's date, with the data interval Airflow gives a run of that date.
    """
    if resume is not None and parameters:
        raise ValueError("a resumed run keeps the parameters it started with; omit parameters=")
    if in_process:
        return _run_in_process(workflow, parameters or {}, resume, force, logical_date)
    if run_dir is None and resume is not None:
        run_dir = resume.folder.parent.parent if resume.folder is not None else None
    if run_dir is None:
        raise ValueError("run_workflow needs run_dir= (e.g. pytest's tmp_path) unless in_process")
    reference = f"{package or workflow.workflow_package}:{workflow.name}"
    command = [sys.executable, "-m", "processing_core", "run", reference]
    command += ["--run-dir", str(run_dir), "--workers", str(workers)]
    command += ["--version", version or _version_or_zero(workflow)]
    if resume is not None:
        if resume.folder is None:
            raise ValueError("resume= takes a run made through `processing-core run` here")
        command += ["--resume", str(resume.folder)]
    if force:
        command.append("--force")
    if logical_date is not None:
        date = logical_date.isoformat() if isinstance(logical_date, datetime) else logical_date
        command += ["--logical-date", date]
    if parameters:
        params_file = run_dir / "params.json"
        run_dir.mkdir(parents=True, exist_ok=True)
        params_file.write_text(json.dumps(dict(parameters)))
        command += ["--params-file", str(params_file)]
    completed = subprocess.run(command, capture_output=True, text=True, env=_importable(reference))
    folders = sorted(run_dir.glob("*/*/run.json"), key=lambda path: path.stat().st_mtime)
    if not folders:
        raise AssertionError(f"processing-core run did not start:\n{completed.stderr}")
    folder = resume.folder if resume is not None and resume.folder else folders[-1].parent
    summary = json.loads((folder / "run.json").read_text())
    states = {task: record["state"] for task, record in summary["tasks"].items()}
    # A mapped node has no result of its own; each instance (`task[3]`) has.
    results = {task: _read_result(folder / folder_name(task) / "result.json") for task in states}
    return WorkflowRun(
        states=states,
        results=results,
        folder=folder,
        output=completed.stdout + completed.stderr,
        exit_code=completed.returncode,
        parameters=summary["parameters"],
    )


def assert_exports(package: str, out: Path, *, target: str = "kubernetes", version: str = "0.0.0",
                   check_with_airflow: bool = True) -> list[Path]:  # fmt: skip
    """Export `package` into `out` as `processing-core export` does and, with
    `check_with_airflow` (needs the `[airflow]` extra), load every file with Airflow's DagBag:
    no import error, one DAG per file. Returns the files; AssertionError says what failed."""
    from processing_core.build_utils import discover_workflows, export_workflows
    from processing_core.nodes.dag import ExportOptions

    options = ExportOptions.create(target=target, version=version)
    results = export_workflows(discover_workflows(package), out, options)
    files = [out / result.file_name for result in results]
    if check_with_airflow:
        from processing_core.extras import require

        require("airflow", "assert_exports(check_with_airflow=True)")
        from processing_core.airflow.dagbag import parse_folder

        parsed = parse_folder(out)
        assert not parsed.import_errors, f"Airflow cannot load: {parsed.import_errors}"
        missing = {result.dag_id for result in results} - set(parsed.dags)
        assert not missing, f"Airflow loaded no DAG {sorted(missing)} from {out}"
    return files


def _run_in_process(
    workflow: Workflow,
    parameters: Mapping[str, Any],
    resume: WorkflowRun | None,
    force: bool,
    logical_date: datetime | str | None,
) -> WorkflowRun:
    """Each task in dependency order, as `processing-core run --workers 1` runs them: a failed
    task stops what depends on it; a resumed run reuses what finished."""
    edges = workflow.upstream_task_ids()
    nodes = {node.task_id: node for node in workflow.nodes}
    if resume is not None:
        parameters = resume.parameters
    run = _InProcessRun(workflow, dict(parameters), force, run_dates(workflow, logical_date))
    if resume is not None:
        run.reuse(resume)
    for task_id in TopologicalSorter(edges).static_order():
        if run.states.get(task_id) in FINISHED:
            continue  # reused from the resumed run
        if any(run.states[upstream] not in FINISHED for upstream in edges[task_id]):
            run.states[task_id], run.results[task_id] = "upstream_failed", None
            continue
        inputs = {upstream: run.outputs(upstream) for upstream in edges[task_id]}
        node = nodes[task_id]
        if node.foreach is None:
            run.task(task_id, task_id, inputs)
            continue
        try:
            items = items_of(inputs[node.foreach.task_id], node.foreach, task_id)
        except ForeachError as error:
            run.states[task_id], run.results[task_id] = "failed", None
            run.errors[task_id] = error
            continue
        for index, item in enumerate(items):
            run.task(task_id, instance_key(task_id, index), inputs, map_index=index, item=item)
        states = [run.states[instance_key(task_id, index)] for index in range(len(items))]
        run.results[task_id] = None
        run.states[task_id] = (
            "skipped"
            if not items
            else ("success" if all(state in FINISHED for state in states) else "failed")
        )
    resolved = resolve_parameters(workflow.parameters, parameters)  # checked by each task
    return WorkflowRun(
        states=run.states, results=run.results, parameters=resolved, errors=run.errors
    )


@dataclass
class _InProcessRun:
    workflow: Workflow
    parameters: dict[str, Any]
    force: bool
    dates: RunDates
    states: dict[str, str] = field(default_factory=dict)
    results: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    def reuse(self, earlier: WorkflowRun) -> None:
        """Keep what finished in `earlier`; a mapped node keeps its instances only when it
        finished as a whole."""
        for key, state in earlier.states.items():
            task_id = split_key(key)[0]
            if state in FINISHED and earlier.states.get(task_id) in FINISHED:
                self.states[key], self.results[key] = state, earlier.results.get(key)

    def outputs(self, upstream: str) -> Any:
        """What a downstream task gets of `upstream`: its outputs, or for a mapped node its
        instances' outputs in map order."""
        if self.workflow.node(upstream).foreach is None:
            return dict((self.results.get(upstream) or {}).get("outputs", {}))
        return [
            dict((self.results[key] or {}).get("outputs", {}))
            for key in _instance_keys(self.results, upstream)
        ]

    def task(self, task_id: str, key: str, inputs: Mapping[str, Any], **mapped: Any) -> None:
        """Run one task (or instance `key`) and record how it ended."""
        node = self.workflow.node(task_id)
        try:
            result = run_task(
                node.task_class, workflow=self.workflow, task_id=task_id,
                parameters=self.parameters, inputs=inputs, force=self.force,
                **self.dates.context(), **mapped,
            )  # fmt: skip
        except Exception as error:
            self.states[key], self.errors[key] = "failed", error
            self.results[key] = {
                "status": "failed", "message": f"{type(error).__name__}: {error}",
                "outputs": {}, "metrics": {},
            }  # fmt: skip
            return
        self.states[key], self.results[key] = result.status, asdict(result)


def _instance_keys(results: Mapping[str, Any], task_id: str) -> list[str]:
    """The keys (`task[3]`) of a mapped node's instances in `results`, in map order."""
    found = sorted(
        (index, key)
        for key in results
        for owner, index in [split_key(key)]
        if owner == task_id and index is not None
    )
    return [key for _, key in found]


def _node_id(task: type[TaskBase], workflow: Workflow | None) -> str:
    if workflow is None:
        return naming.snake_case(task.__name__)
    ids = [node.task_id for node in workflow.nodes if node.task_class is task]
    if len(ids) != 1:
        where = f"{len(ids)} times ({ids})" if ids else "not at all"
        raise ValueError(
            f"{task.__name__} is in workflow {workflow.name!r} {where}; pass task_id= to say which"
        )
    return ids[0]


def _importable(reference: str) -> dict[str, str]:
    """The environment with the package's folder on PYTHONPATH: what this process imports, the
    run's processes import too (a package under test need not be installed)."""
    import importlib
    import os

    package = importlib.import_module(reference.partition(":")[0].partition(".")[0])
    paths = list(getattr(package, "__path__", [])) or [str(Path(package.__file__ or ".").parent)]
    parent = str(Path(paths[0]).parent)
    existing = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [parent, existing]))}


def _version_or_zero(workflow: Workflow) -> str:
    """The workflow's version, or 0.0.0 for a package under test that is not installed."""
    from processing_core.errors import WorkflowDefinitionError

    try:
        return workflow.resolve_version()
    except WorkflowDefinitionError:
        return "0.0.0"


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


__all__: Sequence[str] = ["WorkflowRun", "assert_exports", "run_task", "run_workflow"]
