"""What a task reports: its own message, and mistakes in its outputs named to the key."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from sample_tasks import NanOutputs, ReturnsAValue

from processing_core import RunContext

IDENTITY = ["--workflow-name=w", "--workflow-version=1", "--task-id=t"]


def test_a_task_sets_its_result_message(tmp_path):
    result = tmp_path / "result.json"
    completed = run_cli("run-task", "sample_tasks:SaysWhy", *IDENTITY, f"--result-path={result}")
    assert completed.returncode == 0, completed.stderr
    document = json.loads(result.read_text())
    assert document["status"] == "success"
    assert document["message"] == "4 frames calibrated, 1 skipped (saturated)"


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            "sample_tasks:ReturnsAValue",
            "ReturnsAValue.run() returned a dict; put results in self.outputs",
        ),
        ("sample_tasks:NanOutputs", "NanOutputs.outputs['stats']['frames'][1] is nan"),
        ("sample_tasks:SetOutputs", "SetOutputs.outputs['bands'] is of type set"),
    ],
)
def test_output_mistakes_fail_the_task_naming_the_key(tmp_path, task, message):
    result = tmp_path / "result.json"
    completed = run_cli("run-task", task, *IDENTITY, f"--result-path={result}")
    assert completed.returncode == 1
    assert message in json.loads(result.read_text())["message"]
    assert "Traceback" not in completed.stdout


def test_the_same_checks_hold_in_process():
    context = RunContext("w", "1", "t")
    with (
        pytest.raises(TypeError, match=r"returned a dict; put results in self\.outputs"),
        ReturnsAValue(context) as task,
    ):
        task()
    with NanOutputs(context) as task:
        task()  # the check is the entrypoint's: outputs travel only through it
    from processing_core.runtime.result import check_result

    with pytest.raises(TypeError, match=r"NanOutputs\.outputs\['stats'\]\['frames'\]\[1\] is nan"):
        check_result(task.outputs, task.metrics, "NanOutputs")
