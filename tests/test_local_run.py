"""`processing-core run`: a workflow's tasks on this machine, each through `run-task` in a
subprocess, with a run folder, resume, selection and parallelism, for real."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import VENV_BIN, run_cli, subprocess_env
from test_docs import QUICKSTART_RUN

pytestmark = pytest.mark.slow
ETL = "chain_pipeline:raw_to_table_etl"


def run(tmp_path: Path, *args: str, reference: str = ETL, **env: str):
    return run_cli("run", reference, "--run-dir", str(tmp_path / "runs"), *args, cwd=tmp_path,
                   **env)  # fmt: skip


def run_folder(tmp_path: Path, dag_id: str = "raw_to_table_etl_1.0.0") -> Path:
    (folder,) = (tmp_path / "runs" / dag_id).iterdir()
    return folder


def states(folder: Path) -> dict[str, str]:
    summary = json.loads((folder / "run.json").read_text())
    return {task: record["state"] for task, record in summary["tasks"].items()}


def calls(work: Path) -> list[str]:
    return (work / "calls").read_text().split()


@pytest.mark.java  # the example's Spark step runs
def test_the_readme_run_command_runs_the_example_whole_and_keeps_each_tasks_files(tmp_path):
    # The README's quickstart command, word for word (in a scratch working directory).
    words = QUICKSTART_RUN.split()
    assert words[0] == ".venv/bin/processing-core"
    completed = subprocess.run(
        [str(VENV_BIN / "processing-core"), *words[1:], "--param", "frame_size=8"],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    data = tmp_path / "data"
    folder = (tmp_path / "runs" / "l0_to_l1_vbi_1.0.0").iterdir().__next__()
    assert set(states(folder).values()) == {"success"}
    for task in ("ingest", "calibrate", "frame_statistics", "publish"):
        for name in ("parameters.json", "inputs.json", "result.json", "log"):
            assert (folder / task / name).is_file(), (task, name)
    parameters = json.loads((folder / "ingest" / "parameters.json").read_text())
    assert parameters["frame_size"] == 8 and parameters["seed"] == 7  # a default applied
    inputs = json.loads((folder / "publish" / "inputs.json").read_text())
    assert inputs["frame_statistics"]["outputs"]["frames"]  # the Spark step ran, locally
    assert "Task calibrate succeeded" in (folder / "calibrate" / "log").read_text()
    (product_run,) = data.iterdir()  # data_root=data, relative to the working directory
    manifest = json.loads((product_run / "manifest.json").read_text())
    assert manifest["run_type"] == "manual" and manifest["logical_date"] is None
    assert "publish success" in completed.stdout  # plain progress lines off a terminal


def test_the_examples_default_data_root_is_the_users_own_folder_not_slash_data(tmp_path):
    # The old default, /data/processing, made /data on a root worker and failed on any other.
    def slash_data() -> list[str] | None:
        return sorted(p.name for p in Path("/data").iterdir()) if Path("/data").is_dir() else None

    before = slash_data()
    data_home = tmp_path / "xdg"
    completed = run_cli(
        "run", "workflows:l0_to_quicklook_vbi", "--version", "1.0.0", "--run-dir",
        str(tmp_path / "runs"), "--param", "frame_size=4", "--only", "ingest",
        cwd=tmp_path, XDG_DATA_HOME=str(data_home),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    (run,) = (data_home / "processing-core/volumes/data/processing").iterdir()
    assert (run / "raw.json").is_file()
    assert slash_data() == before


def test_a_failure_stops_its_downstream_and_resume_reruns_only_that(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    first = run(tmp_path, "--param", f"work={work}")
    assert first.returncode == 1
    folder = run_folder(tmp_path)
    assert states(folder) == {
        "extract": "success", "clean": "success", "transform": "failed",
        "load": "upstream_failed", "report": "upstream_failed",
    }  # fmt: skip
    # The failed task, its error and its log, at the end.
    assert (
        f"transform: failed: ValueError: the transform has a bug: divide by the row count of "
        f"clean (log: {folder / 'transform' / 'log'})"
    ) in first.stderr.replace("\n", "")
    assert calls(work) == ["extract", "clean", "transform"]
    # Tasks that never ran have no log to point at.
    assert "load: upstream_failed: an upstream task failed\n" in first.stderr
    # The failed run says how to go on: the exact command, which is what the author runs.
    (line,) = [line for line in first.stderr.splitlines() if "rerun what did not succeed" in line]
    command = shlex.split(line.partition(": ")[2])
    assert command == ["processing-core", "run", ETL, "--resume", str(folder)]
    (work / "fixed").touch()  # the author fixes the bug
    resumed = run_cli(*command[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert set(states(folder).values()) == {"success"}
    # extract and clean were not recomputed; transform's second try, then its downstream.
    assert sorted(calls(work)[3:]) == ["load", "report", "transform"]
    summary = json.loads((folder / "run.json").read_text())
    assert summary["tasks"]["transform"]["try_number"] == 2
    assert (folder / "transform" / "log.1").is_file()  # the failed try's log is kept
    load = json.loads((folder / "load" / "result.json").read_text())
    assert load["outputs"] == {"loaded": 18}
    report = json.loads((folder / "report" / "result.json").read_text())
    assert report["message"] == "18 rows transformed"
    again = run(tmp_path, "--resume", str(folder), "--from", "load")
    assert again.returncode == 0
    assert calls(work)[6:] == ["load"]


def test_selection_errors_name_the_fix(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    only = run(tmp_path, "--param", f"work={work}", "--only", "transform")
    assert only.returncode == 1
    assert "task 'transform' needs the results of ['clean']" in only.stderr
    assert "--resume" in only.stderr
    unknown = run(tmp_path, "--param", f"work={work}", "--from", "nope")
    assert "no task 'nope' in this workflow; its tasks are" in unknown.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("run.json"))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "parameter 'work' is required and was not given"),
        (("--param", "work=/w", "--param", "rows=0"), "parameter 'rows': 0 does not fit"),
        (("--param", "work=/w", "--param", "rows=many"), "parameter 'rows': 'many' does not fit"),
        (("--param", "work"), "--param 'work' is not NAME=VALUE"),
        (
            ("--param", "work=/w", "--param", "colour=red"),
            "['colour'] are not parameters of this workflow; its parameters are ['work', 'rows'",
        ),
        (("--params-file", "missing.json"), "--params-file missing.json"),
    ],
)
def test_parameters_are_checked_as_the_trigger_form_does(tmp_path, args, fragment):
    completed = run(tmp_path, *args)
    assert completed.returncode == 1
    assert fragment in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_params_file_and_a_string_parameter_that_looks_like_a_number(tmp_path):
    work = tmp_path / "123"
    work.mkdir()
    (work / "fixed").touch()
    (tmp_path / "params.json").write_text(json.dumps({"rows": 4}))
    completed = run(tmp_path, "--params-file", "params.json", "--param", "work=123")
    assert completed.returncode == 0, completed.stderr
    load = json.loads((run_folder(tmp_path) / "load" / "result.json").read_text())
    assert load["outputs"] == {"loaded": 6}


@pytest.mark.parametrize(("workers", "meet_seconds", "met"), [("2", "60", True), ("1", "3", False)])
def test_independent_tasks_run_at_once(tmp_path, workers, meet_seconds, met):
    # nap_a and nap_b each wait until the other started (chain_pipeline.Nap): with two
    # workers they meet; one at a time, the first waits in vain (how this test can fail).
    work = tmp_path / "work"
    work.mkdir()
    completed = run(tmp_path, "--param", f"work={work}", "--param", f"meet_seconds={meet_seconds}",
                    "--workers", workers, reference="chain_pipeline:raw_to_rested_naps")  # fmt: skip
    if not met:
        assert completed.returncode == 1
        assert "ran alone: arrived_nap_" in completed.stderr
        return
    assert completed.returncode == 0, completed.stderr
    naps = {n["task"]: n for n in map(json.loads, (work / "naps").read_text().splitlines())}
    assert naps["after"]["start"] >= max(naps["nap_a"]["end"], naps["nap_b"]["end"])


def test_sigterm_stops_the_tasks_which_roll_back_and_the_run_resumes(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    process = subprocess.Popen(
        [str(VENV_BIN / "processing-core"), "run", "chain_pipeline:raw_to_rested_naps",
         "--run-dir", str(tmp_path / "runs"), "--param", f"work={work}",
         "--param", "nap_seconds=30"],
        cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    folder = None
    while time.monotonic() < deadline:
        found = list((tmp_path / "runs").rglob("nap_a/log"))
        if found and "starting" in found[0].read_text():
            folder = found[0].parent.parent
            break
        time.sleep(0.2)
    assert folder is not None, "the run never started its first task"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 130, out + err
    assert (
        f"resume with: processing-core run chain_pipeline:raw_to_rested_naps --resume {folder}"
        in err
    )
    assert states(folder) == {"nap_a": "terminated", "nap_b": "terminated", "after": "not_run"}
    assert (work / "rolled_back_nap_a").exists()
    assert not [p for p in os.listdir(work) if p == "naps"]  # no nap finished


def test_a_terminal_gets_a_live_table(tmp_path):
    """Under a pseudo-terminal the progress is rich's live table, not plain lines."""
    import pty

    work = tmp_path / "work"
    work.mkdir()
    (work / "fixed").touch()
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(VENV_BIN / "processing-core"), "run", ETL, "--run-dir", str(tmp_path / "runs"),
         "--param", f"work={work}"],
        cwd=tmp_path, env={**subprocess_env(), "TERM": "xterm", "COLUMNS": "100"},
        stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the run has ended
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=60) == 0
    os.close(controller)
    text = shown.decode(errors="replace")
    assert "│ report" in text and "└──" in text  # a row of the table, and its bottom
    assert "\x1b[32msuccess" in text  # in colour
    assert " started (try " not in text  # no plain progress lines
