"""dkist's build steps, taking the pipeline's package (a module object) as dkist's do:
`validate_workflows(package)`, `export_dags(package, path)`, `export_notebooks(package,
path)`. The same checks and files as `processing-core validate|export|notebook PACKAGE`."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from processing_core.build_utils import discover_workflows, export_workflows, render_workflows
from processing_core.nodes.dag import ExportOptions


def validate_workflows(module: ModuleType, export_path: Path | None = None) -> None:
    """Raise (naming every problem) unless every workflow of `module` exports; with
    `export_path`, also write them there."""
    workflows = discover_workflows(module.__name__)
    if export_path is None:
        render_workflows(workflows, ExportOptions.create())
    else:
        export_workflows(workflows, Path(export_path), ExportOptions.create())


def export_dags(module: ModuleType, path: str | Path, target: str = "kubernetes") -> list[Path]:
    """Write `<dag_id>.py` for every workflow of `module` into `path`; the files."""
    out = Path(path)
    results = export_workflows(
        discover_workflows(module.__name__), out, ExportOptions.create(target)
    )
    return [out / result.file_name for result in results]


def export_notebooks(module: ModuleType, path: str | Path) -> list[Path]:
    """Write `<dag_id>.ipynb` for every workflow of `module` into `path`; the files."""
    from processing_core.extras import require
    from processing_core.render.notebook import write_notebooks

    require("nbformat", "export_notebooks")
    return write_notebooks(discover_workflows(module.__name__), Path(path))
