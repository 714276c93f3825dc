"""Bad input to the command line: one paragraph naming the culprit and the fix, a
conventional exit code, and never a traceback (unless --debug asks for one)."""

from __future__ import annotations

import subprocess

import pytest
from conftest import REPO_ROOT, TESTS_DIR, VENV_BIN, as_ordinary_user, run_cli, subprocess_env


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-errors")
    (root / "a-file").write_text("")
    (root / "not-a-zip.zip").write_text("plain text")
    dags = root / "dags"
    (dags / "broken-1.0").mkdir(parents=True)
    (dags / "broken-1.0" / "manifest.json").write_text('{"manifest_version": 1, "distribution": 7}')
    return root


CASES = [
    (["export", "workflows", "--out", "{root}/a-file"], 1, "is a file; pass a folder"),
    (["export", "workflows", "--out", "{root}/a-file/dags", "--version", "1.0.0"], 1, "Not a directory"),
    (["export", "no_such_package", "--out", "{root}/x"], 1, "cannot import package 'no_such_package'"),
    (["export", "broken_pipeline", "--out", "{root}/x"], 1, f"{TESTS_DIR}/broken_pipeline/steps.py, line 6"),
    (["validate", "broken_pipeline"], 1, "1 problem found:"),
    (["validate", "workflows", "--target", "cloud"], 1, "target 'cloud' is unknown"),
    (["verify", "{root}/not-a-zip.zip"], 1, "not a readable zip archive"),
    (["verify", "{root}/missing.zip"], 1, "does not exist"),
    (["install", "{root}/not-a-zip.zip", "--dags-folder", "{root}/d"], 1, "not a readable zip"),
    (["install", "{root}/not-a-zip.zip", "--dags-folder", "{root}/a-file"], 1, "is a file"),
    (["publish", "{root}/not-a-zip.zip", "--url", "http://127.0.0.1:9/x"], 1, "not a readable zip"),
    (["publish", "{root}/missing.zip", "--url", "not a url"], 1, "is not an http(s) URL"),
    (["versions", "--dags-folder", "{root}/nowhere"], 1, "does not exist"),
    (["versions", "--dags-folder", "{root}/dags"], 1, "distribution: Input should be"),
    (["prune", "--dags-folder", "{root}/nowhere", "--keep", "1"], 1, "does not exist"),
    (["prune", "--dags-folder", "{root}/dags", "--keep", "0"], 2, "--keep"),
    (["run-task", "nomodule:Task", "--workflow-name=w", "--workflow-version=1", "--task-id=t",
      "--result-path={root}/r.json"], 2, "cannot import module 'nomodule'"),
    (["run-task", "sample_tasks:Echo", "--workflow-name=w", "--workflow-version=1",
      "--task-id=t", "--parameters=[1]"], 2, "--parameters must be a JSON object"),
    (["run-task", "sample_tasks:Echo", "--workflow-name=w", "--workflow-version=1",
      "--task-id=t", "--inputs=" + "[" * 5000], 2, "--inputs is"),
    (["run-task", "sample_tasks:Echo", "--workflow-name=w", "--workflow-version=1",
      "--task-id=t", "--result-path={root}/a-file/r.json"], 2, "--result-path"),
    (["bundle", "workflows", "--version", "1.0", "--out", "{root}/a-file"], 1, "is a file; pass a folder"),
]  # fmt: skip
ENV_CASES = [
    ({"RESOURCE_PROFILES": '{"gpu": {"pool": NaN}}'}, ["validate", "workflows"], "RESOURCE_PROFILES"),
    ({"RETRY_CONFIG": '{"backoff": NaN}'}, ["events", "flush"], "RETRY_CONFIG"),
    ({"RETRY_CONFIG": "not json"}, ["events", "flush"], "RETRY_CONFIG: not valid JSON"),
    ({"ISB_PORT": "1"}, ["events", "tail", "--count", "1"], "cannot follow events"),
    ({"LOGURU_LEVEL": "chatty"}, ["settings"], "LOGURU_LEVEL"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    CASES,
    ids=[" ".join(c[0][:2]) + f"-{i}" for i, c in enumerate(CASES)],
)
def test_bad_arguments_get_a_message_and_a_code_not_a_traceback(files, arguments, code, message):
    completed = run_cli(*(a.format(root=files) for a in arguments))
    assert completed.returncode == code, completed.stdout + completed.stderr
    assert message in completed.stderr, completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout


@pytest.mark.parametrize(("env", "arguments", "message"), ENV_CASES)
def test_bad_settings_get_a_message_naming_the_variable(env, arguments, message):
    completed = run_cli(*arguments, **env)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert message in completed.stderr and "Traceback" not in completed.stderr


def test_validate_never_claims_it_wrote_nothing_and_export_does(files):
    validated = run_cli("validate", "broken_pipeline")
    exported = run_cli("export", "broken_pipeline", "--out", str(files / "y"))
    assert "nothing was written" not in validated.stderr
    assert "nothing was written" in exported.stderr


def test_debug_shows_the_traceback_for_those_who_want_it(files):
    completed = run_cli("--debug", "verify", str(files / "missing.zip"))
    assert completed.returncode == 1 and "does not exist" in completed.stderr
    plain = run_cli("install", str(files / "not-a-zip.zip"), "--dags-folder", str(files / "d"),
                    PROCESSING_CORE_DEBUG="1")  # fmt: skip
    assert "Traceback" in plain.stderr and "not a readable zip" in plain.stderr


def test_an_out_folder_that_cannot_be_written_is_named(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    completed = subprocess.run(
        [*as_ordinary_user(), str(VENV_BIN / "processing-core"), "export", "workflows",
         "--out", str(locked / "dags"), "--version", "1.0.0"],
        env=subprocess_env(), capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert completed.returncode == 1
    assert "Permission denied" in completed.stderr and str(locked) in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_missing_package_is_not_located_in_the_library_itself():
    completed = run_cli("validate", "no_such_package")
    assert "No module named 'no_such_package'" in completed.stderr
    assert "processing_core" not in completed.stderr  # no frame of ours named as the culprit


@pytest.mark.parametrize(
    ("source", "code", "message"),
    [
        (
            "import sys\nsys.exit('configuration missing')\n",
            1,
            "cannot import package 'stops_at_import' (",
        ),
        ("raise SystemExit(3)\n", 1, "it called sys.exit(3) while being imported"),
        (
            "raise KeyboardInterrupt\n",
            1,
            "cannot import package 'stops_at_import' (",
        ),
        # A real Ctrl-C while the module imports: the command stops, and says so.
        ("import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n", 130,
         "Error: interrupted"),
    ],
)  # fmt: skip
def test_a_package_that_exits_or_interrupts_at_import_is_named(tmp_path, source, code, message):
    package = tmp_path / "stops_at_import"
    package.mkdir()
    (package / "__init__.py").write_text(source)
    for command in (("export", "--out", str(tmp_path / "dags")), ("validate",)):
        completed = run_cli(*command, "stops_at_import", "--version", "1.0.0", cwd=tmp_path)
        assert completed.returncode == code, completed.stderr
        assert message in completed.stderr
        if code == 1:
            assert "stops_at_import/__init__.py, line" in completed.stderr
            assert "nothing was written" in completed.stderr or command == ("validate",)
        assert "Traceback" not in completed.stderr
        assert not (tmp_path / "dags").exists()
