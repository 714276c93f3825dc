"""Setting up local runs: the workflow's version and parameters, the run folder (new or
resumed), and the tasks to run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from processing_core.definition.workflow import Workflow
from processing_core.errors import LocalRunError
from processing_core.local.dates import RunDates
from processing_core.local.parameters import run_parameters
from processing_core.local.plan import tasks_to_run
from processing_core.local.processes import stop_survivors
from processing_core.local.run_folder import FINISHED, RunFolder, RunSummary, new_run_id
from processing_core.local.runner import TERMINATION_GRACE, LocalRun


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
    dates: RunDates | None = None,
    force: bool = False,
) -> LocalRun:
    """A run of `workflow`, ready to execute; LocalRunError (or WorkflowDefinitionError) says
    why it cannot start, before any task runs. `dates`: the run's logical date, data interval
    and type (local.dates); `force`: tasks run even when their complete() says the work is
    done."""
    if workers < 1:
        raise LocalRunError(f"--workers {workers} must be at least 1")
    edges = workflow.upstream_task_ids()
    hold = ExitStack()  # the run folder's lock, held until the run ends
    stopped: list[tuple[str, int]] = []
    try:
        if resume is not None:
            if params or params_file:
                raise LocalRunError(
                    "a resumed run keeps the parameters it started with; start a new run "
                    "(without --resume) to change them"
                )
            if dates is not None and dates.logical_date is not None:
                raise LocalRunError(
                    "a resumed run keeps the dates it started with; leave out --logical-date "
                    "(or start a new run without --resume)"
                )
            hold.enter_context(RunFolder.open(resume).lock())
            folder = RunFolder.open(resume)  # read again: no other runner writes it now
            summary = folder.summary
            if summary.workflow != workflow.name or (version and version != summary.version):
                raise LocalRunError(
                    f"--resume {resume} is a run of {summary.workflow} {summary.version}, not "
                    f"of {workflow.name} {version or ''}".rstrip()
                )
            # Tasks a killed runner left running end (and leave their result) first.
            stopped = stop_survivors(folder.path, TERMINATION_GRACE)
            finished = {task for task, rec in summary.tasks.items() if rec.state in FINISHED}
            to_run = tasks_to_run(edges, finished, from_task=from_task, only=only)
        else:
            summary, to_run = _new_run(
                workflow, params=params, params_file=params_file, from_task=from_task,
                only=only, version=version, dates=dates or RunDates(),
            )  # fmt: skip
            folder = RunFolder.create(run_dir, summary)  # once everything is known to be right
            hold.enter_context(folder.lock())
    except BaseException:
        hold.close()
        raise
    return LocalRun(
        workflow=workflow, folder=folder, edges=edges, to_run=to_run, workers=workers,
        stopped=stopped, hold=hold, force=force,
        # A resumed run redoes a mapped node's instances that did not finish, and only those.
        reuse_instances=resume is not None and from_task is None and not only,
    )  # fmt: skip


def check_run(
    workflow: Workflow,
    *,
    params: Sequence[str] = (),
    params_file: Path | None = None,
    from_task: str | None = None,
    only: Sequence[str] = (),
    version: str | None = None,
) -> None:
    """What prepare_run checks of a new run, without making its folder: LocalRunError (or
    WorkflowDefinitionError) says why it cannot start. For runs that start later (the dates of
    a backfill), so that a mistake shows before the first one runs."""
    _new_run(
        workflow, params=params, params_file=params_file, from_task=from_task, only=only,
        version=version, dates=RunDates(),
    )  # fmt: skip


def _new_run(
    workflow: Workflow,
    *,
    params: Sequence[str],
    params_file: Path | None,
    from_task: str | None,
    only: Sequence[str],
    version: str | None,
    dates: RunDates,
) -> tuple[RunSummary, list[str]]:
    """The summary of a new run and the tasks it runs, once everything is known to be right."""
    version = workflow.resolve_version(version)
    parameters = run_parameters(workflow.parameters, params, params_file)
    workflow.validate(version=version)
    summary = RunSummary(
        workflow=workflow.name,
        version=version,
        dag_id=workflow.dag_id(version),
        run_id=new_run_id(logical_date=dates.logical_date, run_type=dates.run_type),
        parameters=parameters,
        dates=dates.data() if dates.logical_date is not None else {},
    )
    edges = workflow.upstream_task_ids()
    return summary, tasks_to_run(edges, set(), from_task=from_task, only=only)


def missing_secrets(run: LocalRun) -> list[str]:
    """One line per secret variable a task of `run` declares and this environment lacks (in a
    pod, Kubernetes sets it from its Secret): the task would run without it."""
    lines = []
    for task_id in run.to_run:
        for variable, ref in run.workflow.node(task_id).declared.secrets.items():
            if variable not in os.environ:
                lines.append(
                    f"warning: task {task_id!r} reads {variable} (Secret {ref.secret!r}, key "
                    f"{ref.key!r}, in a pod), which is not set here: it runs without it; "
                    f"export {variable}=... to run it as in production"
                )
    return lines
