"""The artifact-repository DAG bundle behind a whole Airflow (api-server, scheduler,
dag-processor, LocalExecutor, PostgreSQL, the loopback repository `publish` writes to): a
version the retention drops stays while a run of it is in progress, and goes after."""

from __future__ import annotations

import pytest
from artifactory import Repository
from conftest import run_cli
from deployment import Deployment, bundle

from processing_core.airflow.bundle import ArtifactRepositoryDagBundle

pytestmark = pytest.mark.slow
TOKEN = "bundle-reader-token"
BUNDLE = "pipelines"  # Repository.bundle_settings's
OLD, NEW = "gate_to_done_test_1.0.0", "gate_to_done_test_2.0.0"


def test_the_retention_keeps_a_version_until_its_run_ends(tmp_path, monkeypatch):
    repository = Repository(TOKEN)

    def publish(version: str) -> None:
        archive = bundle(tmp_path, "gated_pipeline", version, "--target", "local")
        done = run_cli("publish", str(archive), "--url", repository.url, ARTIFACTORY_TOKEN=TOKEN)
        assert done.returncode == 0, done.stderr

    publish("1.0.0")
    deployment = Deployment(
        tmp_path, tmp_path / "unused-dags-folder", EVENTS_ENABLED="false",
        **repository.bundle_settings(tmp_path / "bundles", "gated-pipeline", keep=1),
    )  # fmt: skip
    current = tmp_path / "bundles" / BUNDLE / "current"
    try:
        deployment.start()
        deployment.wait_for("1.0.0 parsed", lambda: OLD in deployment.dag_ids())
        gate = tmp_path / "gate"
        run_id = deployment.trigger(OLD, {"gate": str(gate)})
        deployment.wait_for(
            "wait_for_gate running",
            lambda: deployment.task_states(OLD, run_id).get("wait_for_gate") == "running",
        )
        publish("2.0.0")  # keep=1: 1.0.0 is past the retention, but its run is in progress
        deployment.wait_for("2.0.0 parsed", lambda: NEW in deployment.dag_ids())
        log = deployment.log("dag-processor")
        assert "keeps gated-pipeline 1.0.0 while a DAG of it has a queued or running run" in log
        held = current.readlink().name
        assert held.endswith("+1")  # the index entry of 1.0.0 (seq 1), held
        assert sorted(p.name for p in current.iterdir()) == [
            "gated-pipeline-1.0.0", "gated-pipeline-2.0.0"
        ]  # fmt: skip
        assert OLD in deployment.dag_ids()  # not stale: the scheduler goes on with its run
        # A worker elsewhere, given the held set's version, rebuilds exactly that set.
        monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH", str(tmp_path / "w"))
        monkeypatch.setenv("ARTIFACTORY_TOKEN", TOKEN)
        worker = ArtifactRepositoryDagBundle(
            name=BUNDLE, url=repository.url, distributions=["gated-pipeline"], keep=1,
            version=held,
        )  # fmt: skip
        worker.initialize()
        assert sorted(p.name for p in worker.path.iterdir()) == [
            "gated-pipeline-1.0.0", "gated-pipeline-2.0.0"
        ]  # fmt: skip

        gate.touch()
        deployment.wait_for("the run ends", lambda: deployment.run_state(OLD, run_id) != "running")
        assert deployment.task_states(OLD, run_id) == {
            "wait_for_gate": "success", "after_gate": "success"
        }  # fmt: skip
        assert deployment.run_state(OLD, run_id) == "success"
        # Nothing runs now: the next refresh drops 1.0.0, and its history stays.
        deployment.wait_for(
            "1.0.0 dropped", lambda: deployment.api("GET", f"dags/{OLD}")["is_stale"]
        )
        assert sorted(p.name for p in current.iterdir()) == ["gated-pipeline-2.0.0"]
        assert "+" not in current.readlink().name
        assert TOKEN not in deployment.log("dag-processor")
    finally:
        deployment.stop()
        repository.close()
