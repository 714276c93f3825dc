"""dkist-processing-core's notebook helpers, as dkist-processing-common calls them when a task
runs in a notebook (`is_notebook_execution_environment`): wait until the notebook on disk
holds a cell's output, and export a notebook as Markdown (nbconvert, imported when called)."""

from __future__ import annotations

import time
from pathlib import Path
from uuid import uuid4


def wait_for_notebook_save(
    notebook_path: Path,
    sentinel: str | None = None,
    attempts: int = 120,
    delay_s: float = 1,
) -> None:
    """Return once `notebook_path` holds `sentinel` (a fresh one when None: it is printed,
    so the running cell's output carries it); TimeoutError after `attempts` tries."""
    sentinel = sentinel or uuid4().hex
    print(f"Waiting for notebook to save with sentinel '{sentinel}'...", flush=True)
    for _ in range(attempts):
        try:
            if sentinel in Path(notebook_path).read_text(encoding="utf-8"):
                return
        except FileNotFoundError:
            pass  # not saved yet
        time.sleep(delay_s)
    raise TimeoutError(f"Notebook {notebook_path} did not save updated outputs in time")


def export_notebook_by_path(notebook_path: Path) -> bytes:
    """The notebook at `notebook_path` as Markdown, UTF-8."""
    try:
        import nbformat
        from nbconvert import MarkdownExporter
    except ModuleNotFoundError as error:
        from processing_core.extras import MissingExtraError

        raise MissingExtraError(
            f"export_notebook_by_path needs {error.name}, which is not installed here; "
            "install nbformat and nbconvert (a notebook environment has them)"
        ) from None
    notebook = nbformat.read(notebook_path, as_version=nbformat.NO_CONVERT)
    body, _ = MarkdownExporter().from_notebook_node(notebook)
    return str(body).encode("utf-8")
