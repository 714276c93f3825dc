"""`processing-core notebook`: a notebook per workflow version, executed headlessly in a real
Jupyter kernel, whole, and one cell against a recorded run."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from conftest import REPO_ROOT, TESTS_DIR, run_cli
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def write_notebook(tmp_path, reference="chain_pipeline:raw_to_table_etl", *args):
    completed = run_cli("notebook", reference, "--out", str(tmp_path / "notebooks"), *args)
    assert completed.returncode == 0, completed.stderr
    (path,) = [tmp_path / "notebooks" / name for name in os.listdir(tmp_path / "notebooks")]
    return path


def execute(notebook, tmp_path, monkeypatch):
    # The kernel imports the pipeline as the author's shell would.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)]))
    monkeypatch.setenv("EVENTS_ENABLED", "false")
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    return notebook


def set_parameters(notebook, **values) -> None:
    setup = notebook.cells[1]
    for name, value in values.items():
        setup.source += f"\nPARAMETERS[{name!r}] = {value!r}"


def test_the_notebook_runs_the_whole_workflow_in_a_kernel(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "fixed").touch()
    path = write_notebook(tmp_path)
    assert path.name == "raw_to_table_etl_1.0.0.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    headings = [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown"]
    assert headings[1:] == ["## extract", "## clean", "## transform", "## load", "## report"]
    set_parameters(notebook, work=str(work))
    execute(notebook, tmp_path, monkeypatch)
    assert (work / "calls").read_text().split() == [
        "extract", "clean", "transform", "load", "report"
    ]  # fmt: skip
    last = notebook.cells[-1].outputs[0]["data"]["text/plain"]
    assert "18 rows transformed" in last


def test_one_cell_reruns_a_task_of_a_recorded_run(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "fixed").touch()
    recorded = run_cli("run", "chain_pipeline:raw_to_table_etl", "--run-dir",
                       str(tmp_path / "runs"), "--param", f"work={work}", cwd=tmp_path)  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    (run_dir,) = (tmp_path / "runs" / "raw_to_table_etl_1.0.0").iterdir()
    notebook = nbformat.read(write_notebook(tmp_path), as_version=4)
    set_parameters(notebook, work=str(work))
    notebook.cells[1].source += f"\nRUN_DIR = {str(run_dir)!r}"
    # Only the setup and `load`'s cell: its input comes from the recorded transform.
    load = next(i for i, c in enumerate(notebook.cells) if c.source.startswith("## load"))
    notebook.cells = notebook.cells[:2] + notebook.cells[load : load + 2]
    execute(notebook, tmp_path, monkeypatch)
    assert "{'loaded': 18}" in notebook.cells[-1].outputs[0]["data"]["text/plain"]
    assert (work / "calls").read_text().split()[-1] == "load"


def test_the_example_notebook_holds_its_spark_task_and_parameters(tmp_path):
    path = write_notebook(tmp_path, "workflows:l0_to_l1_vbi", "--version", "1.4.0")
    notebook = nbformat.read(path, as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells)
    assert "from workflows.l0_to_l1 import l0_to_l1 as workflow" in source
    assert '"frame_size": 16,' in source
    assert "from workflows.tasks import FrameStatistics" in source
    assert notebook.metadata["processing_core"] == {"workflow": "l0_to_l1_vbi", "version": "1.4.0"}
    json.dumps(notebook)  # plain JSON throughout


def test_a_mapped_node_runs_once_per_element_in_the_notebook_and_reads_a_recorded_run(
    tmp_path, monkeypatch
):
    work = tmp_path / "work"
    work.mkdir()
    path = write_notebook(tmp_path, "foreach_pipeline:raw_to_combined_frames")
    notebook = nbformat.read(path, as_version=4)
    set_parameters(notebook, work=str(work), count=3)
    execute(notebook, tmp_path, monkeypatch)
    files = ["frame_000.fits", "frame_001.fits", "frame_002.fits"]
    assert f"'files': {files}" in notebook.cells[-1].outputs[0]["data"]["text/plain"]
    calls = [json.loads(line) for line in (work / "calls").read_text().splitlines()]
    assert [(c["map_index"], c["file"]) for c in calls] == list(enumerate(files))
    # `combine` alone, its mapped upstream's instances read from a recorded run.
    recorded = run_cli("run", "foreach_pipeline:raw_to_combined_frames", "--run-dir",
                       str(tmp_path / "runs"), "--param", f"work={work}", "--param", "count=2",
                       cwd=tmp_path)  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    (run_dir,) = (tmp_path / "runs" / "raw_to_combined_frames_1.0.0").iterdir()
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].source += f"\nRUN_DIR = {str(run_dir)!r}"
    notebook.cells = notebook.cells[:2] + notebook.cells[-2:]
    execute(notebook, tmp_path, monkeypatch)
    assert f"'files': {files[:2]}" in notebook.cells[-1].outputs[0]["data"]["text/plain"]
