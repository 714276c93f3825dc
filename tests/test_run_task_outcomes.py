"""One exit path for every outcome of `run-task`: a result, a final event, a documented code.

Each case is a way a real task ends badly (issue 9): it runs as a real subprocess, with its
events published to the real RabbitMQ on a private exchange.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import VENV_BIN, subprocess_env
from rabbitmq import Bus

IDENTITY = ["--workflow-name=l0_to_l1_vbi", "--workflow-version=3.0.0", "--task-id=the_task",
            "--run-id=manual__1", "--try-number=1"]  # fmt: skip


def command(task: str, tmp_path: Path, *extra: str, result: str | None = None) -> list[str]:
    markers = json.dumps({"markers": str(tmp_path / "markers")})
    return [str(VENV_BIN / "processing-core"), "run-task", task, *IDENTITY,
            f"--parameters={markers}", f"--result-path={result or tmp_path / 'result.json'}",
            *extra]  # fmt: skip


def run(task: str, tmp_path: Path, bus: Bus, *extra: str, preexec=None, **env: str):
    completed = subprocess.run(
        command(task, tmp_path, *extra),
        env=subprocess_env(**bus.env(EVENTS_OUTBOX=str(tmp_path / "outbox"), **env)),
        capture_output=True, text=True, timeout=120, preexec_fn=preexec,
    )  # fmt: skip
    return completed, _result(tmp_path), _events(bus)


def _result(tmp_path: Path) -> dict | None:
    path = tmp_path / "result.json"
    return json.loads(path.read_text()) if path.exists() else None


def _events(bus: Bus) -> list[dict]:
    return [json.loads(body) for _, _, body in bus.messages(2, timeout=5)]


def markers(tmp_path: Path) -> set[str]:
    folder = tmp_path / "markers"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.mark.parametrize(
    ("task", "code", "status", "message"),
    [
        ("sample_tasks:ExitsZero", 1, "failed",
         "ExitsZero called sys.exit(0); a task ends by returning"),
        ("sample_tasks:ExitsNinetyNine", 1, "failed", "ExitsNinetyNine called sys.exit(99)"),
        ("sample_tasks:Interrupted", 130, "terminated", "terminated by SIGINT"),
        ("sample_tasks:BrokenInit", 1, "failed",
         "BrokenInit.__init__ failed: RuntimeError: cannot start"),
        ("sample_tasks:DeeplyNested", 1, "failed", "nested too deeply"),
    ],
)  # fmt: skip
def test_every_way_out_leaves_a_result_a_final_event_and_a_non_zero_code(
    tmp_path, bus, task, code, status, message
):
    completed, result, events = run(task, tmp_path, bus)
    assert completed.returncode == code, completed.stderr
    assert result is not None and result["status"] == status
    assert message in result["message"]
    assert [event["kind"] for event in events] == ["task.started", "task.failed"]
    assert message.split(": ", 1)[-1] in events[1]["error"]["message"]
    assert "Traceback" not in completed.stdout
    if task != "sample_tasks:BrokenInit" and task != "sample_tasks:DeeplyNested":
        assert "rollback" in markers(tmp_path)  # the task was rolled back ...
        assert completed.returncode != 0  # ... so it can never exit 0


def test_a_failing_rollback_keeps_the_original_error(tmp_path, bus):
    completed, result, events = run("sample_tasks:FailingRollback", tmp_path, bus)
    assert completed.returncode == 1
    assert result["message"].startswith("ValueError: the original problem")
    assert "rollback() also failed: RuntimeError: rollback broke too" in result["message"]
    assert events[1]["error"]["type"] == "ValueError"
    assert "rollback broke too" in events[1]["error"]["message"]


def test_a_failing_close_is_a_failure_and_never_called_a_rollback(tmp_path, bus):
    completed, result, events = run("sample_tasks:FailingClose", tmp_path, bus)
    assert completed.returncode == 1
    assert result["status"] == "failed" and "cannot close the archive" in result["message"]
    assert "rollback" not in markers(tmp_path)
    assert "nothing was rolled back" in completed.stderr
    assert "; rolled back" not in completed.stderr
    assert events[1]["kind"] == "task.failed"


def test_sigterm_during_rollback_waits_for_the_rollback(tmp_path, bus):
    process = subprocess.Popen(
        command("sample_tasks:SlowRollback", tmp_path),
        env=subprocess_env(**bus.env(EVENTS_OUTBOX=str(tmp_path / "outbox"))),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while "rollback-started" not in markers(tmp_path):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert "rollback" in markers(tmp_path), stderr  # it ran to its end
    assert process.returncode == 1  # the failure came first; SIGTERM changed nothing
    assert _result(tmp_path)["message"] == "RuntimeError: failed before SIGTERM"


def test_a_task_that_closes_stdout_still_leaves_its_result_last(tmp_path, bus):
    completed = subprocess.run(
        command("sample_tasks:ClosesStdout", tmp_path, result="-"),
        env=subprocess_env(**bus.env(EVENTS_OUTBOX=str(tmp_path / "outbox"))),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    last = completed.stdout.strip().splitlines()[-1]
    assert json.loads(last)["status"] == "success"
    assert [event["kind"] for event in _events(bus)] == ["task.started", "task.succeeded"]


def test_a_result_that_cannot_be_written_fails_cleanly_and_leaves_no_temporary_file(tmp_path, bus):
    # A real write error from the kernel: files over 1 KiB fail with EFBIG, as a full disk
    # fails with ENOSPC.
    completed, result, events = run(
        "sample_tasks:WritesBigResult",
        tmp_path,
        bus,
        preexec=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024)),
    )
    assert completed.returncode == 1
    assert result is None
    assert "the result could not be written" in completed.stderr
    assert "File too large" in completed.stderr and "Traceback" not in completed.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert [event["kind"] for event in events] == ["task.started", "task.failed"]
    assert "could not be written" in events[1]["error"]["message"]


@pytest.mark.parametrize(
    ("result_path", "message"),
    [("file", "--result-path"), ("folder", "is a folder")],
)
def test_a_result_path_no_result_can_reach_is_refused_before_the_task(
    tmp_path, result_path, message
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "result.json" if result_path == "file" else tmp_path
    completed = subprocess.run(
        command("sample_tasks:MarkerTask", tmp_path, result=str(target)),
        env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 2
    assert message in completed.stderr and "Traceback" not in completed.stderr
    assert markers(tmp_path) == set()  # the task never ran
