"""Validate and render every workflow in memory, then write the files; all or nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from processing_core._meta import library_version
from processing_core.definition.workflow import Workflow
from processing_core.errors import ExportError, WorkflowDefinitionError
from processing_core.nodes.dag import ExportOptions, build_dag_spec
from processing_core.render.dag_file import render_dag_file


@dataclass(frozen=True)
class ExportResult:
    """One rendered workflow: its identity and the DAG file's name and text."""

    workflow: Workflow
    version: str
    dag_id: str
    task_count: int
    file_name: str
    source: str
    # The DAG's task ids as Airflow lists them (a mapped node's list task among them).
    task_ids: tuple[str, ...]


def render_workflows(
    workflows: Sequence[Workflow],
    options: ExportOptions,
    progress: Callable[[Workflow], None] | None = None,
) -> list[ExportResult]:
    """Render every workflow; raise ExportError listing every invalid one."""
    results: list[ExportResult] = []
    problems: list[str] = []
    if not workflows:
        problems.append("no workflows found: define Workflow objects at module level")
    for workflow in workflows:
        try:
            spec = build_dag_spec(workflow, options)
        except WorkflowDefinitionError as error:
            problems.extend(error.problems)
        else:
            results.append(
                ExportResult(
                    workflow=workflow,
                    version=spec.version,
                    dag_id=spec.dag_id,
                    task_count=len(spec.tasks),
                    task_ids=tuple(task.task_id for task in spec.tasks),
                    file_name=f"{spec.dag_id}.py",
                    source=render_dag_file(spec, library_version()),
                )
            )
        if progress is not None:
            progress(workflow)
    seen: dict[str, str] = {}
    for result in results:
        if result.dag_id in seen:
            problems.append(
                f"dag_id {result.dag_id!r} comes from two workflows ({seen[result.dag_id]} and "
                f"{result.workflow!r}); give one of them another detail= or category"
            )
        seen[result.dag_id] = repr(result.workflow)
    if problems:
        raise ExportError(problems)
    return results


def export_workflows(
    workflows: Sequence[Workflow],
    out_dir: Path,
    options: ExportOptions,
    progress: Callable[[Workflow], None] | None = None,
) -> list[ExportResult]:
    """Write `<dag_id>.py` for every workflow into `out_dir`, or nothing at all.

    Files are written beside their final place and renamed into it, so the scheduler never
    parses a half-written file; other files in `out_dir` (other versions) are left alone.
    """
    results = render_workflows(workflows, options, progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".processing-core-export-", dir=out_dir) as staging:
        staged = []
        for result in results:
            path = Path(staging) / result.file_name
            path.write_text(result.source, encoding="utf-8")
            staged.append(path)
        for path in staged:
            os.replace(path, out_dir / path.name)
    return results
