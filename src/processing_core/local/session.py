"""Setting up local runs: the workflow's version and parameters, the run folder (new or
resumed), and the tasks to run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from processing_core.definition.workflow import Workflow
from processing_core.errors import LocalRunError
from processing_core.local.parameters import run_parameters
from processing_core.local.plan import tasks_to_run
from processing_core.local.run_folder import FINISHED, RunFolder, RunSummary, new_run_id
from processing_core.local.runner import LocalRun


def prepare_run(
    workflow: Workflow,
    *,
    params: Sequence[str] = (),
    params_file: Path | None = None,
    from_task: str | None = None,
    only: Sequence[str] = (),
    resume: Path | None = None,
    run_dir: Path = Path("runs"),
    version: str | None = None,
    workers: int = 2,
) -> LocalRun:
    """A run of `workflow`, ready to execute; LocalRunError (or WorkflowDefinitionError) says
    why it cannot start, before any task runs."""
    if workers < 1:
        raise LocalRunError(f"--workers {workers} must be at least 1")
    edges = workflow.upstream_task_ids()
    if resume is not None:
        if params or params_file:
            raise LocalRunError(
                "a resumed run keeps the parameters it started with; start a new run (without "
                "--resume) to change them"
            )
        folder = RunFolder.open(resume)
        summary = folder.summary
        if summary.workflow != workflow.name or (version and version != summary.version):
            raise LocalRunError(
                f"--resume {resume} is a run of {summary.workflow} {summary.version}, not of "
                f"{workflow.name} {version or ''}".rstrip()
            )
        finished = {task for task, record in summary.tasks.items() if record.state in FINISHED}
        to_run = tasks_to_run(edges, finished, from_task=from_task, only=only)
    else:
        version = workflow.resolve_version(version)
        parameters = run_parameters(workflow.parameters, params, params_file)
        workflow.validate(version=version)
        summary = RunSummary(
            workflow=workflow.name,
            version=version,
            dag_id=workflow.dag_id(version),
            run_id=new_run_id(),
            parameters=parameters,
        )
        to_run = tasks_to_run(edges, set(), from_task=from_task, only=only)
        folder = RunFolder.create(run_dir, summary)  # once everything is known to be right
    return LocalRun(workflow=workflow, folder=folder, edges=edges, to_run=to_run, workers=workers)
