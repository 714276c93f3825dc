"""The example pipeline's own tests, written with `processing_core.testing` as an author's
would be: one task at a time, the whole workflow in-process and through `processing-core
run`, and the export loaded by Airflow."""

from __future__ import annotations

import chain_pipeline
import pytest

from processing_core import WorkflowDefinitionError
from processing_core.testing import assert_exports, run_task, run_workflow
from workflows.l0_to_l1 import l0_to_l1, quicklook
from workflows.tasks import Calibrate, Ingest, QualityCheck


def test_ingest_then_calibrate_one_task_at_a_time(tmp_path):
    ingested = run_task(Ingest, workflow=l0_to_l1, parameters={"data_root": str(tmp_path)})
    assert ingested.outputs["frame_count"] == 4  # the declared default
    calibrated = run_task(
        Calibrate, workflow=l0_to_l1, parameters={"data_root": str(tmp_path)},
        inputs={"ingest": ingested.outputs},
    )  # fmt: skip
    assert calibrated.status == "success"
    assert calibrated.metrics == {"dark_level": 100.0}


def test_a_class_twice_in_a_workflow_needs_its_task_id(tmp_path):
    with pytest.raises(ValueError, match=r"QualityCheck is in workflow .* 2 times"):
        run_task(QualityCheck, workflow=quicklook)


def test_parameters_are_checked_as_in_a_run():
    with pytest.raises(WorkflowDefinitionError, match="parameter 'frame_size': 1 does not fit"):
        run_task(Ingest, workflow=l0_to_l1, parameters={"frame_size": 1})


def test_a_failing_task_raises_its_own_error(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ValueError, match="the transform has a bug"):
        run_task(chain_pipeline.Transform, workflow=chain_pipeline.etl,
                 parameters={"work": str(work)}, inputs={"clean": {"rows": 3}})  # fmt: skip


def test_the_whole_chain_in_process(tmp_path):
    (tmp_path / "fixed").touch()
    run = run_workflow(chain_pipeline.etl, parameters={"work": str(tmp_path)}, in_process=True)
    assert run.succeeded
    assert run.outputs("load") == {"loaded": 18}
    assert run.results["report"]["message"] == "18 rows transformed"


def test_a_failed_task_in_process_is_a_state_and_the_run_resumes(tmp_path):
    # What a failure test of a pipeline looks like: no run folder, no subprocess.
    failed = run_workflow(chain_pipeline.etl, parameters={"work": str(tmp_path)}, in_process=True)
    assert not failed.succeeded
    assert failed.states == {
        "extract": "success", "clean": "success", "transform": "failed",
        "load": "upstream_failed", "report": "upstream_failed",
    }  # fmt: skip
    assert failed.failed == ["transform", "load", "report"]
    assert isinstance(failed.errors["transform"], ValueError)  # raise it to see the traceback
    assert failed.results["transform"]["message"].startswith("ValueError: the transform has a bug")
    (tmp_path / "fixed").touch()
    resumed = run_workflow(chain_pipeline.etl, in_process=True, resume=failed)
    assert resumed.succeeded and resumed.outputs("load") == {"loaded": 18}
    # Only what did not succeed ran again, with the parameters the run started with.
    assert (tmp_path / "calls").read_text().split() == [
        "extract", "clean", "transform", "transform", "load", "report",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="keeps the parameters it started with"):
        run_workflow(chain_pipeline.etl, parameters={"work": "x"}, in_process=True, resume=failed)


def test_force_runs_a_task_whose_complete_says_its_work_is_done(tmp_path):
    import complete_pipeline

    first = run_workflow(complete_pipeline.made, parameters={"work": str(tmp_path)},
                         in_process=True)  # fmt: skip
    assert first.states["produce"] == "success"
    again = run_workflow(complete_pipeline.made, parameters={"work": str(tmp_path)},
                         in_process=True)  # fmt: skip
    assert again.states["produce"] == "skipped"
    forced = run_workflow(complete_pipeline.made, parameters={"work": str(tmp_path)},
                          in_process=True, force=True)  # fmt: skip
    assert forced.states["produce"] == "success" and forced.outputs("produce")["made_now"]


@pytest.mark.slow
def test_the_whole_chain_through_processing_core_run(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    failed = run_workflow(chain_pipeline.etl, parameters={"work": str(work)},
                          run_dir=tmp_path / "runs")  # fmt: skip
    assert not failed.succeeded and failed.exit_code == 1
    assert failed.states["transform"] == "failed"
    assert failed.folder is not None and (failed.folder / "transform" / "log").is_file()
    (work / "fixed").touch()
    passed = run_workflow(chain_pipeline.etl, resume=failed)  # in the same folder
    assert passed.succeeded, passed.output
    assert passed.folder == failed.folder
    assert passed.outputs("load") == {"loaded": 18}
    assert (work / "calls").read_text().split().count("extract") == 1


def test_the_example_exports_and_airflow_loads_it(tmp_path):
    files = assert_exports("workflows", tmp_path / "dags", version="1.0.0")
    assert sorted(path.name for path in files) == [
        "l0_to_l1_vbi_1.0.0.py", "l0_to_quicklook_vbi_1.0.0.py"
    ]  # fmt: skip


def test_assert_exports_fails_on_a_file_airflow_cannot_load(tmp_path, monkeypatch):
    # A DAGs folder already holding a broken file: the check reports Airflow's own error.
    out = tmp_path / "dags"
    out.mkdir()
    (out / "broken.py").write_text("from airflow.sdk import DAG\nraise RuntimeError('broken')\n")
    with pytest.raises(AssertionError, match="Airflow cannot load"):
        assert_exports("workflows", out, version="1.0.0")
