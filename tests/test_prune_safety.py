"""`prune` never removes a version with a queued or running run. A real Airflow says which: its
metadata database (SQLite, migrated, the DAGs serialized, a run triggered and left queued)
and its api-server, started on a loopback port."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import VENV_BIN, airflow, airflow_env, run_cli
from deployment import stop_group
from ports import HeldPort

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
    env = airflow_env(home, dags)
    trigger = ["dags", "trigger", "l0_to_l1_vbi_1.0.0", "--conf", json.dumps({"data_root": "x"})]
    for command in (["dags", "reserialize"], trigger):
        done = airflow(env, *command)
        assert done.returncode == 0, done.stderr[-3000:]
    # No scheduler runs here: the triggered run of 1.0.0 stays queued.
    return {"dags": dags, "env": env, "root": root}


@pytest.fixture(scope="module")
def api_server(deployment):
    """Airflow's api-server on a free loopback port (simple auth manager, all admins)."""
    import time
    import urllib.request

    held = HeldPort()  # until the server is gone: no one else is handed the port
    port = held.port
    env = {**deployment["env"], "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
    log = (deployment["root"] / "api-server.log").open("wb")
    server = subprocess.Popen(
        [str(VENV_BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/version", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    deployment["root"] / "api-server.log"
                ).read_text()[-3000:]
                time.sleep(0.5)
        yield url
    finally:
        stop_group(server)
        log.close()
        held.release()


def versions(dags, env) -> list[str]:
    listed = run_cli("versions", "--dags-folder", str(dags), **env)
    return [line.split()[1] for line in listed.stdout.splitlines()]


def test_airflows_api_server_says_which_version_has_a_run(deployment, api_server):
    # Runs where Airflow is not: no metadata database, only the API.
    env = {"AIRFLOW_API_URL": api_server, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:///"}
    pruned = run_cli("prune", "--dags-folder", str(deployment["dags"]), "--keep", "1", **env)
    assert pruned.returncode == 0, pruned.stderr
    assert "kept workflows 1.0.0: l0_to_l1_vbi_1.0.0 has a queued or running run" in pruned.stdout
    assert versions(deployment["dags"], deployment["env"]) == ["2.0.0", "1.0.0"]


def test_a_version_with_a_run_in_progress_stays_until_forced(deployment, tmp_path):
    # A copy of the DAGs folder: the module's own stays whole for the other tests (Airflow's
    # database, which says which runs are in progress, is the same).
    env, dags = deployment["env"], tmp_path / "dags"
    shutil.copytree(deployment["dags"], dags, symlinks=True)
    pruned = run_cli("prune", "--dags-folder", str(dags), "--keep", "1", **env)
    assert pruned.returncode == 0, pruned.stderr
    assert "kept workflows 1.0.0: l0_to_l1_vbi_1.0.0 has a queued or running run" in pruned.stdout
    assert versions(dags, env) == ["2.0.0", "1.0.0"]
    forced = run_cli("prune", "--dags-folder", str(dags), "--keep", "1", "--force", **env)
    assert forced.returncode == 0, forced.stderr
    assert "removed workflows 1.0.0" in forced.stdout
    assert versions(dags, env) == ["2.0.0"]
    assert versions(deployment["dags"], env) == ["2.0.0", "1.0.0"]


def test_prune_refuses_when_airflow_cannot_be_asked(tmp_path):
    dags = tmp_path / "dags"
    for version in ("1.0.0", "2.0.0"):
        made = run_cli(
            "bundle", "workflows", "--version", version, "--out", str(tmp_path / version)
        )
        assert made.returncode == 0, made.stderr
        (archive,) = (tmp_path / version).glob("*.zip")
        installed = run_cli("install", str(archive), "--dags-folder", str(dags))
        assert installed.returncode == 0, installed.stderr
    # An API nobody answers (a closed loopback port).
    pruned = run_cli("prune", "--dags-folder", str(dags), "--keep", "1",
                     AIRFLOW_API_URL="http://127.0.0.1:9")  # fmt: skip
    assert pruned.returncode == 1
    assert "cannot ask Airflow at http://127.0.0.1:9 which runs are in progress" in pruned.stderr
    assert "--force" in pruned.stderr
    assert sorted(p.name for p in dags.iterdir() if p.is_dir()) == [
        "workflows-1.0.0", "workflows-2.0.0"
    ]  # fmt: skip
