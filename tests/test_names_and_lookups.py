"""Names as real pipelines write them (parts with '-', as 33 of DKIST's 50 workflows do), and
lookups of parameters and upstream results that fail with the names that exist."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import sample_tasks
from conftest import export_package, run_cli
from test_pods import K8S_VERSION, pod_manifest

from processing_core import RunContext, Workflow, WorkflowDefinitionError
from processing_core.airflow import to_dag
from processing_core.config import load_settings


def test_name_parts_may_hold_dashes_and_the_dag_id_keeps_them(tmp_path):
    bag = export_package(
        tmp_path,
        "dashed_pipeline",
        "import sample_tasks\n"
        "from processing_core import Workflow\n"
        "workflow = Workflow('l0', 'l1', 'vbi', detail='summit-calibrated', version='1.2.0')\n"
        "workflow.add_node(sample_tasks.Echo)\n",
    )
    assert list(bag.dags) == ["l0_to_l1_vbi_summit-calibrated_1.2.0"]


def test_a_dashed_workflow_makes_valid_pods():
    workflow = Workflow("l0", "l1", "vbi", detail="summit-calibrated", version="1.2.0",
                        workflow_package="sample_tasks")  # fmt: skip
    workflow.add_node(sample_tasks.Declared)
    manifest = pod_manifest(to_dag(workflow, settings=load_settings()).get_task("declared"))
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert manifest["metadata"]["labels"]["processing-core/workflow"] == (
        "l0_to_l1_vbi_summit-calibrated"
    )


@pytest.mark.parametrize("detail", ["summit--calibrated", "-summit", "summit-", "a_-b", "a b"])
def test_dashes_and_underscores_only_between_letters_and_digits(detail):
    with pytest.raises(WorkflowDefinitionError, match="single '_' or '-' between them"):
        Workflow("l0", "l1", "vbi", detail=detail)


def test_reading_an_undeclared_parameter_names_the_ones_there_are():
    context = RunContext("w", "1", "calibrate", parameters={"dark_level": 1, "flat": "f"})
    with pytest.raises(KeyError) as raised, sample_tasks.ReadsWhatIsNotThere(context) as task:
        task()
    assert str(raised.value) == (
        "parameter 'gain' is not one of this run's parameters: ['dark_level', 'flat']"
    )
    task = sample_tasks.ReadsWhatIsNotThere(context)
    assert task.parameters.get("gain") is None  # .get() still works
    assert json.loads(json.dumps(task.parameters)) == {"dark_level": 1, "flat": "f"}


def test_reading_an_unknown_upstream_names_the_upstreams():
    context = RunContext("w", "1", "calibrate", inputs={"ingest": {"frames_path": "x"}})
    with pytest.raises(KeyError) as raised, sample_tasks.ReadsAMissingUpstream(context) as task:
        task()
    assert str(raised.value) == (
        "'ingest_raw' is not an upstream task of 'calibrate'; its upstream tasks are ['ingest']"
    )


def test_the_names_reach_the_result_of_a_real_run(tmp_path):
    result = tmp_path / "result.json"
    completed = run_cli("run-task", "sample_tasks:ReadsWhatIsNotThere",
                        "--workflow-name=w", "--workflow-version=1", "--task-id=t",
                        '--parameters={"dark_level": 1}', f"--result-path={result}")  # fmt: skip
    assert completed.returncode == 1
    assert json.loads(result.read_text())["message"] == (
        "NameNotFoundError: parameter 'gain' is not one of this run's parameters: ['dark_level']"
    )
