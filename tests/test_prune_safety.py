"""`prune` never removes a version with a queued or running run: Airflow's metadata database
(a real one: SQLite, migrated, the DAGs serialized and a run triggered) says which."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import VENV_BIN, run_cli, subprocess_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("prune")
    dags = root / "dags"
    for version in ("1.0.0", "2.0.0"):
        made = run_cli("bundle", "workflows", "--version", version, "--out", str(root / version),
                       "--target", "local")  # fmt: skip
        assert made.returncode == 0, made.stderr
        (archive,) = (root / version).glob("*.zip")
        installed = run_cli("install", str(archive), "--dags-folder", str(dags))
        assert installed.returncode == 0, installed.stderr
    home = root / "home"
    env = subprocess_env(
        AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    )  # fmt: skip
    airflow = str(VENV_BIN / "airflow")
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([airflow, *command], env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    return {"dags": dags, "env": env, "airflow": airflow}


def versions(deployment) -> list[str]:
    listed = run_cli("versions", "--dags-folder", str(deployment["dags"]), **deployment["env"])
    return [line.split()[1] for line in listed.stdout.splitlines()]


def test_a_version_with_a_run_in_progress_stays_until_forced(deployment):
    env, dags = deployment["env"], deployment["dags"]
    triggered = subprocess.run(
        [deployment["airflow"], "dags", "trigger", "l0_to_l1_vbi_1.0.0", "--conf",
         json.dumps({"data_root": "/nonexistent"})],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert triggered.returncode == 0, triggered.stderr[-3000:]  # queued: no scheduler runs it
    pruned = run_cli("prune", "--dags-folder", str(dags), "--keep", "1", **env)
    assert pruned.returncode == 0, pruned.stderr
    assert "kept workflows 1.0.0: l0_to_l1_vbi_1.0.0 has a queued or running run" in pruned.stdout
    assert versions(deployment) == ["2.0.0", "1.0.0"]
    forced = run_cli("prune", "--dags-folder", str(dags), "--keep", "1", "--force", **env)
    assert forced.returncode == 0, forced.stderr
    assert "removed workflows 1.0.0" in forced.stdout
    assert versions(deployment) == ["2.0.0"]


def test_prune_refuses_when_airflow_cannot_be_asked(tmp_path):
    dags = tmp_path / "dags"
    for version in ("1.0.0", "2.0.0"):
        made = run_cli(
            "bundle", "workflows", "--version", version, "--out", str(tmp_path / version)
        )
        (archive,) = (tmp_path / version).glob("*.zip")
        assert run_cli("install", str(archive), "--dags-folder", str(dags)).returncode == 0, made
    # An API nobody answers (a closed loopback port).
    pruned = run_cli("prune", "--dags-folder", str(dags), "--keep", "1",
                     AIRFLOW_API_URL="http://127.0.0.1:9")  # fmt: skip
    assert pruned.returncode == 1
    assert "cannot ask Airflow at http://127.0.0.1:9 which runs are in progress" in pruned.stderr
    assert "--force" in pruned.stderr
    assert sorted(p.name for p in dags.iterdir() if p.is_dir()) == [
        "workflows-1.0.0", "workflows-2.0.0"
    ]  # fmt: skip
