"""`processing-core run` against an unlucky operator, with real processes and signals: two
runners of one folder, a runner killed with SIGKILL, values larger than a command line, and
a task that cannot even start. Each case keeps `run.json` truthful and no task runs twice at
once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import VENV_BIN, run_cli, subprocess_env
from test_local_run import run, run_folder, states

pytestmark = pytest.mark.slow
GATED = "gated_pipeline:gate_to_done_test"
VERSION = ("--version", "1.0.0")  # the test package is not installed
PAYLOAD = "chain_pipeline:raw_to_measured_payload"


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """`processing-core run ...` in the background."""
    return subprocess.Popen(
        [str(VENV_BIN / "processing-core"), "run", *args, "--run-dir", str(tmp_path / "runs")],
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def wait_until(what: str, check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has ended


def waiting_task(tmp_path: Path) -> tuple[Path, int]:
    """The run folder and the pid of the `wait_for_gate` task of the run in `tmp_path`."""
    pid_file = wait_until(
        "the task's pid file",
        lambda: next(iter((tmp_path / "runs").rglob("wait_for_gate/pid")), None),
    )
    log = pid_file.parent / "log"
    wait_until("the task to start", lambda: log.exists() and "starting" in log.read_text())
    return pid_file.parent.parent, json.loads(pid_file.read_text())["pid"]


def test_a_second_resume_of_a_folder_in_use_is_refused_naming_the_holder(tmp_path):
    gate = tmp_path / "gate"
    first = start(tmp_path, GATED, *VERSION, "--param", f"gate={gate}")
    folder, _ = waiting_task(tmp_path)
    first.send_signal(signal.SIGTERM)  # stopped while waiting: resumable
    assert first.wait(timeout=60) == 130
    assert states(folder)["wait_for_gate"] == "terminated"

    resuming = start(tmp_path, GATED, "--resume", str(folder))
    wait_until("the resumed task", lambda: json.loads((folder / "run.json").read_text())[
        "tasks"]["wait_for_gate"]["try_number"] == 2 and (folder / "wait_for_gate/pid").exists())  # fmt: skip
    second = run_cli("run", GATED, "--resume", str(folder), cwd=tmp_path)
    assert second.returncode == 1
    assert f"{folder} is in use by another `processing-core run` (pid {resuming.pid} on " in (
        second.stderr
    )
    assert "wait for it to end, or stop it" in second.stderr and "Traceback" not in second.stderr

    gate.touch()
    out, err = resuming.communicate(timeout=120)
    assert resuming.returncode == 0, out + err
    summary = json.loads((folder / "run.json").read_text())["tasks"]
    # Two tries in all (the stopped one and the resumed one): the refused runner ran nothing.
    assert summary["wait_for_gate"]["try_number"] == 2
    assert summary["after_gate"]["try_number"] == 1
    assert sorted(p.name for p in (folder / "wait_for_gate").glob("log*")) == ["log", "log.1"]
    # The folder is free again once the run ended.
    again = run_cli("run", GATED, "--resume", str(folder), cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_the_tasks_of_a_killed_runner_end_with_it_and_resume_runs_them_once(tmp_path):
    gate = tmp_path / "gate"
    runner = start(tmp_path, GATED, *VERSION, "--param", f"gate={gate}")
    folder, task_pid = waiting_task(tmp_path)
    assert alive(task_pid)
    runner.send_signal(signal.SIGKILL)  # no chance to stop its tasks
    runner.wait(timeout=30)
    # The task gets SIGTERM from the kernel (PR_SET_PDEATHSIG), rolls back and ends.
    wait_until("the orphaned task to end", lambda: not alive(task_pid), timeout=30)
    result = json.loads((folder / "wait_for_gate" / "result.json").read_text())
    assert result["status"] == "terminated"
    assert states(folder)["wait_for_gate"] == "running"  # what the killed runner left

    gate.touch()
    resumed = run_cli("run", GATED, "--resume", str(folder), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert states(folder) == {"wait_for_gate": "success", "after_gate": "success"}
    result = json.loads((folder / "wait_for_gate" / "result.json").read_text())
    assert result["status"] == "success"  # the resumed try's, rewritten by nobody since
    assert not (folder / "wait_for_gate" / "pid").exists()


def test_resume_stops_what_an_earlier_runner_left_running_before_it_runs_anything(tmp_path):
    """Where the kernel cannot end them (no PR_SET_PDEATHSIG: another system, or a task's
    own children), the pid file lets --resume find the survivor; a pid file whose process is
    another one now (its start time differs) is left alone."""
    gate = tmp_path / "gate"
    gate.touch()
    failed = run(tmp_path, *VERSION, "--param", f"gate={gate}", "--param", "fail=true",
                 reference=GATED)  # fmt: skip
    assert failed.returncode == 1
    folder = run_folder(tmp_path, "gate_to_done_test_1.0.0")
    survivor = subprocess.Popen(["sleep", "300"], start_new_session=True)
    innocent = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        for task, pid, start in (
            ("after_gate", survivor.pid, None),
            ("wait_for_gate", innocent.pid, "1"),
        ):
            recorded = {"pid": pid, "start": start, "runner": 1}
            if start is None:  # as the runner writes it: the process's own start time
                stat = Path(f"/proc/{pid}/stat").read_text()
                recorded["start"] = stat[stat.rindex(")") + 2 :].split()[19]
            (folder / task / "pid").write_text(json.dumps(recorded))
        resumed = run_cli("run", GATED, "--resume", str(folder), cwd=tmp_path)
        assert survivor.wait(timeout=10) == -signal.SIGTERM  # stopped, not left running
        assert f"after_gate: stopped pid {survivor.pid}, left running by an earlier runner" in (
            resumed.stderr
        )
        assert innocent.poll() is None  # its pid file named another process: untouched
        assert not (folder / "after_gate" / "pid").exists()
        assert not (folder / "wait_for_gate" / "pid").exists()
    finally:
        for process in (survivor, innocent):
            process.kill()
            process.wait()


def test_values_larger_than_a_command_line_reach_the_tasks(tmp_path):
    """A 200 KiB parameter from --params-file, and inputs of three 60,000-character results:
    both more than one argument holds (128 KiB)."""
    work = tmp_path / "work"
    work.mkdir()
    payload = "é" + "x" * (200 * 1024)
    (tmp_path / "params.json").write_text(json.dumps({"work": str(work), "payload": payload}))
    completed = run(tmp_path, "--params-file", str(tmp_path / "params.json"), reference=PAYLOAD)
    assert completed.returncode == 0, completed.stderr
    folder = run_folder(tmp_path, "raw_to_measured_payload_1.0.0")
    assert set(states(folder).values()) == {"success"}
    combined = json.loads((folder / "combine" / "result.json").read_text())["outputs"]
    assert combined == {
        "received": {"measure_a": 60_000, "measure_b": 60_000, "measure_c": 60_000},
        "characters": len(payload),
    }
    assert len((folder / "combine" / "inputs.json").read_bytes()) > 128 * 1024


def test_a_task_that_cannot_start_is_recorded_failed_not_running(tmp_path):
    from chain_pipeline import etl

    from processing_core.local.session import prepare_run

    work = tmp_path / "work"
    work.mkdir()
    local = prepare_run(etl, params=[f"work={work}"], run_dir=tmp_path / "runs")
    local.python = str(tmp_path / "no-such-python")  # the interpreter is gone

    class Quiet:
        def started(self, task_id, record) -> None: ...

        def finished(self, task_id, record) -> None: ...

    local.execute(Quiet())
    summary = json.loads((local.folder.path / "run.json").read_text())["tasks"]
    assert summary["extract"]["state"] == "failed"
    assert "the runner could not run it: No such file or directory" in summary["extract"]["message"]
    assert {summary[t]["state"] for t in ("clean", "transform", "load", "report")} == {
        "upstream_failed"
    }
    # And the folder was let go: a resume may take it.
    with local.folder.lock():
        pass


def test_run_task_reads_large_values_from_files_stdin_and_numbered_variables(tmp_path):
    """run-task's references, as the runner and Airflow's side use them."""
    from processing_core.run_values import parts

    text = "ü" + "y" * 150_000
    parameters = json.dumps({"payload": text, "work": str(tmp_path)})
    (tmp_path / "parameters.json").write_text(parameters)
    declared = '[{"name": "payload"}, {"name": "work"}]'
    env = {f"VALUES__{n}": piece for n, piece in enumerate(parts(parameters), 1)}
    assert len(env) == 2 and all(len(v.encode()) <= 100_000 for v in env.values())
    for reference, stdin in ((f"@{tmp_path / 'parameters.json'}", None), ("@-", parameters),
                             ("@env:VALUES", None)):  # fmt: skip
        completed = subprocess.run(
            [str(VENV_BIN / "processing-core"), "run-task", "chain_pipeline:Measure",
             "--workflow-name=w", "--workflow-version=1", "--task-id=measure",
             f"--parameters={reference}", f"--declared-parameters={declared}", "--result-path=-"],
            input=stdin, env=subprocess_env(**env), capture_output=True, text=True, cwd=tmp_path,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        assert result["outputs"]["characters"] == len(text), reference
    missing = subprocess.run(
        [str(VENV_BIN / "processing-core"), "run-task", "chain_pipeline:Measure",
         "--workflow-name=w", "--workflow-version=1", "--task-id=measure",
         "--parameters=@env:NOTHING_HERE", "--inputs=@/no/such/file"],
        env=subprocess_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "--parameters=@env:NOTHING_HERE: no variable NOTHING_HERE__1" in missing.stderr
    assert "Traceback" not in missing.stderr
