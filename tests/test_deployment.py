"""Operating versions in a real Airflow (api-server, scheduler, dag-processor, LocalExecutor,
PostgreSQL, all on loopback), as a deployment team does over time: prune while a run of an
old version is in progress, reinstall a version with other content, read a failure in the
logs and the events. See tests/deployment.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from deployment import Deployment, bundle

pytestmark = pytest.mark.slow
OLD, NEW = "gate_to_done_test_1.0.0", "gate_to_done_test_2.0.0"


@pytest.fixture(scope="module")
def operated(airflow_deployment):
    deployment, bus = airflow_deployment
    deployment.wait_for("both versions parsed", lambda: {OLD, NEW} <= deployment.dag_ids())
    return deployment, bus


def prune(deployment: Deployment, *options: str):
    # As an operator's machine runs it: no Airflow installed there, its API and a token.
    return run_cli("prune", "--dags-folder", str(deployment.dags), "--keep", "1", *options,
                   AIRFLOW_API_URL=deployment.url, AIRFLOW_API_TOKEN=deployment.token(),
                   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///")  # fmt: skip


def installed_versions(deployment: Deployment) -> list[str]:
    folders = deployment.dags.iterdir()
    return sorted(p.name for p in folders if p.is_dir() and p.name.startswith("gated-"))


@pytest.fixture
def restores_old(operated):
    """Puts 1.0.0 back after a test that prunes it: the deployment is the session's."""
    deployment, _ = operated
    yield
    if "gated-pipeline-1.0.0" not in installed_versions(deployment):
        archive = deployment.archives["gated_pipeline", "1.0.0"]
        installed = run_cli("install", str(archive), "--dags-folder", str(deployment.dags))
        assert installed.returncode == 0, installed.stderr
        deployment.wait_for("1.0.0 back", lambda: OLD in deployment.dag_ids()
                            and not deployment.api("GET", f"dags/{OLD}")["is_stale"])  # fmt: skip


def test_prune_keeps_a_version_until_its_run_ends(operated, restores_old, tmp_path):
    deployment, _ = operated
    gate = tmp_path / "gate"
    run_id = deployment.trigger(OLD, {"gate": str(gate)})
    deployment.wait_for(
        "wait_for_gate running",
        lambda: deployment.task_states(OLD, run_id).get("wait_for_gate") == "running",
    )
    pruned = prune(deployment)
    assert pruned.returncode == 0, pruned.stderr
    assert f"kept gated-pipeline 1.0.0: {OLD} has a queued or running run" in pruned.stdout
    assert installed_versions(deployment) == ["gated-pipeline-1.0.0", "gated-pipeline-2.0.0"]
    # The run goes on through the next task of the version prune kept (the defect: "Dag not
    # found during start up" and a run left running).
    gate.touch()
    deployment.wait_for("the old run ends", lambda: deployment.run_state(OLD, run_id) != "running")
    assert deployment.run_state(OLD, run_id) == "success"
    assert deployment.task_states(OLD, run_id) == {
        "wait_for_gate": "success", "after_gate": "success"
    }  # fmt: skip
    assert (tmp_path / "gate.done").read_text() == run_id
    # Now nothing runs: the old version goes, and Airflow keeps its history.
    pruned = prune(deployment)
    assert pruned.returncode == 0, pruned.stderr
    assert "removed gated-pipeline 1.0.0" in pruned.stdout
    assert installed_versions(deployment) == ["gated-pipeline-2.0.0"]
    deployment.wait_for(
        "the pruned DAG marked stale",
        lambda: deployment.api("GET", f"dags/{OLD}")["is_stale"],
    )
    # Gone from the DAG list; its page, runs and logs stay reachable.
    assert OLD not in deployment.dag_ids() and NEW in deployment.dag_ids()
    assert deployment.run_state(OLD, run_id) == "success"


def test_a_changed_reinstall_is_refused_and_the_same_one_changes_nothing(operated):
    deployment, _ = operated
    installed = deployment.dags / "gated-pipeline-2.0.0" / f"{NEW}.py"
    before = installed.read_bytes()
    versions_before = deployment.api("GET", f"dags/{NEW}/dagVersions")["total_entries"]
    # Version 2.0.0 again, but other content (the Kubernetes target's DAG file).
    changed = bundle(deployment.root, "gated_pipeline", "2.0.0", "--target", "kubernetes")
    refused = run_cli("install", str(changed), "--dags-folder", str(deployment.dags))
    assert refused.returncode == 1
    assert f"{NEW}.py" in refused.stderr and "--force" in refused.stderr
    assert installed.read_bytes() == before
    same = bundle(deployment.root, "gated_pipeline", "2.0.0", "--target", "local")
    again = run_cli("install", str(same), "--dags-folder", str(deployment.dags))
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout
    # Airflow saw no new version of the DAG ("1.1.0" with its own "Dag version v2").
    assert deployment.api("GET", f"dags/{NEW}/dagVersions")["total_entries"] == versions_before


def test_a_failed_run_names_its_task_and_each_callback_logs_one_line(operated, tmp_path):
    deployment, bus = operated
    gate = tmp_path / "gate"
    gate.touch()
    run_id = deployment.trigger(NEW, {"gate": str(gate), "fail": True})
    deployment.wait_for("the run fails", lambda: deployment.run_state(NEW, run_id) == "failed")
    events: list[dict] = []

    def run_failed() -> dict | None:
        events.extend(json.loads(body) for _, _, body in bus.messages(expected=1000, timeout=2))
        found = [e for e in events if e["kind"] == "run.failed" and e["run_id"] == run_id]
        return found[0] if found else None

    # The DAG's failure callback runs in the dag-processor, after the run is failed.
    failed = deployment.wait_for("run.failed published", run_failed, timeout=120)
    assert failed["error"]["message"] == "task_failure; failed: after_gate (try 1)"
    assert failed["dag_id"] == NEW and failed["workflow_version"] == "2.0.0"
    task_failed = [
        e for e in events
        if (e["source"], e["kind"], e["run_id"]) == ("airflow", "task.failed", run_id)
    ]  # fmt: skip
    assert [e["task_id"] for e in task_failed] == ["after_gate"]
    # Each callback said in one line what it published, in the real logs; pika said nothing.
    logs = {
        path: path.read_text(errors="replace")
        for path in (deployment.home / "logs").rglob("*")
        if path.is_file()
    }
    logs.update({Path(name): deployment.log(name) for name in deployment.processes})
    for event in (failed, task_failed[0]):
        line = f"processing-core published event {event['kind']} ({event['event_id']})"
        assert [path for path, text in logs.items() if line in text], line
    assert not [path for path, text in logs.items() if "Pika version" in text]
    assert not [path for path, text in logs.items() if "Created channel" in text]
