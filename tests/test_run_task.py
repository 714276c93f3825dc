"""`processing-core run-task` runs real tasks in a subprocess, as the pod and the worker do."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import VENV_BIN, run_cli, subprocess_env

IDENTITY = [
    "--workflow-name", "raw_to_clean_test",
    "--workflow-version", "2.0.1",
    "--task-id", "the_task",
    "--run-id", "manual__2026-11-21T10:00:00+00:00",
    "--try-number", "3",
]  # fmt: skip


def run_task(task: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("run-task", task, *IDENTITY, *args)


def test_success_writes_the_result_file(tmp_path: Path):
    result_path = tmp_path / "xcom" / "return.json"
    upstream = {"status": "success", "message": "", "outputs": {"frames": 4}, "metrics": {}}
    completed = run_task(
        "sample_tasks:Echo",
        "--parameters", json.dumps({"seed": 7, "name": "vbi"}),
        "--inputs", json.dumps({"ingest": upstream, "calibrate": json.dumps(upstream)}),
        "--result-path", str(result_path),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(result_path.read_text())
    assert result == {
        "status": "success",
        "message": "",
        "outputs": {
            "parameters": {"seed": 7, "name": "vbi"},
            "inputs": {"ingest": {"frames": 4}, "calibrate": {"frames": 4}},
            "identity": ["raw_to_clean_test", "2.0.1", "manual__2026-11-21T10:00:00+00:00", 3],
        },
        "metrics": {"answer": 42},
    }
    assert list(result_path.parent.iterdir()) == [result_path]  # no staging file left
    assert "the_task" in completed.stderr  # log lines name the task


def test_result_on_stdout_is_the_last_line_even_after_unterminated_prints(tmp_path: Path):
    completed = run_task("sample_tasks:Chatty", "--result-path", "-")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("progress: 50%\n")
    last = completed.stdout.splitlines()[-1]
    assert json.loads(last)["status"] == "success"


def test_lifecycle_runs_in_order_and_closes(tmp_path: Path):
    completed = run_task(
        "sample_tasks:MarkerTask", "--parameters", json.dumps({"markers": str(tmp_path)})
    )
    assert completed.returncode == 0, completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["close", "post_run", "pre_run", "run"]


def test_failure_rolls_back_and_exits_non_zero(tmp_path: Path):
    markers, result_path = tmp_path / "markers", tmp_path / "result.json"
    completed = run_task(
        "sample_tasks:Failing",
        "--parameters", json.dumps({"markers": str(markers)}),
        "--result-path", str(result_path),
    )  # fmt: skip
    assert completed.returncode == 1
    assert sorted(p.name for p in markers.iterdir()) == ["close", "pre_run", "rollback", "run"]
    assert "RuntimeError: calibration frames are missing" in completed.stderr
    result = json.loads(result_path.read_text())
    assert result["status"] == "failed"
    assert result["message"] == "RuntimeError: calibration frames are missing"


def test_outputs_that_are_not_json_fail_the_task_with_rollback(tmp_path: Path):
    completed = run_task(
        "sample_tasks:BadOutputs", "--parameters", json.dumps({"markers": str(tmp_path)})
    )
    assert completed.returncode == 1
    assert (
        "BadOutputs.outputs['when'] is of type object; results hold only JSON values"
        in completed.stderr
    )
    assert (tmp_path / "rollback").exists()


def test_outputs_too_large_for_a_result_fail_with_the_fix(tmp_path: Path):
    completed = run_task(
        "sample_tasks:HugeOutputs", "--parameters", json.dumps({"markers": str(tmp_path)})
    )
    assert completed.returncode == 1
    assert "a result may hold 65536" in completed.stderr
    assert "put its location in outputs" in completed.stderr
    assert (tmp_path / "rollback").exists()


def test_sigterm_rolls_back_and_exits_143(tmp_path: Path):
    markers, result_path = tmp_path / "markers", tmp_path / "result.json"
    process = subprocess.Popen(
        [str(VENV_BIN / "processing-core"), "run-task", "sample_tasks:Sleeping", *IDENTITY,
         "--parameters", json.dumps({"markers": str(markers)}), "--result-path", str(result_path)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (markers / "run").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stderr
    assert (markers / "rollback").exists()
    assert (markers / "close").exists()
    assert not (markers / "post_run").exists()
    assert json.loads(result_path.read_text())["status"] == "terminated"
    assert "terminated by SIGTERM" in stderr


@pytest.mark.parametrize(
    ("task", "args", "message"),
    [
        ("sample_tasks:Nope", [], "module 'sample_tasks' has no 'Nope'; its task classes: ["),
        # A typo names the class it most likely meant.
        ("sample_tasks:Ech", [], "has no 'Ech'; did you mean 'Echo'? its task classes: ["),
        ("no_such_pipeline.tasks:Ingest", [], "cannot import module 'no_such_pipeline.tasks'"),
        ("sample_tasks", [], "is not of the form package.module:ClassName"),
        ("sample_tasks:Resources", [], "is not a concrete TaskBase subclass"),
        ("sample_tasks:Echo", ["--parameters", "{not json"], "--parameters is not JSON"),
        ("sample_tasks:Echo", ["--parameters", "[1, 2]"], "--parameters must be a JSON object"),
        ("sample_tasks:Echo", ["--inputs", '{"a": "garbage"}'], "upstream task 'a' is not JSON"),
    ],
)
def test_unusable_task_or_inputs_exit_2_with_a_clear_error(task, args, message):
    completed = run_task(task, *args)
    assert completed.returncode == 2
    assert message in completed.stderr


def test_task_context_manager_and_call_in_process(tmp_path: Path):
    import sample_tasks

    from processing_core import RunContext

    context = RunContext("w", "1", "t", parameters={"markers": str(tmp_path)})
    with pytest.raises(RuntimeError), sample_tasks.Failing(context) as task:
        task()
    # rollback ran exactly once although both __call__ and __exit__ saw the failure
    assert (tmp_path / "rollback").read_text() == "t"
    assert (tmp_path / "close").exists()
