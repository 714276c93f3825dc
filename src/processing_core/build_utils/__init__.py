"""Build-time steps: discover the workflows of a package, validate them, export DAG files."""

from processing_core.build_utils.discover import discover_workflows, select_workflows
from processing_core.build_utils.export import ExportResult, export_workflows, render_workflows

__all__ = [
    "ExportResult",
    "discover_workflows",
    "export_workflows",
    "render_workflows",
    "select_workflows",
]
