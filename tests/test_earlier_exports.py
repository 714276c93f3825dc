"""DAG files exported by an earlier release keep parsing and running on this one: the import
paths they name (processing_core.airflow_callbacks, the run-task options) are public API.
`tests/data/exported_by_<version>/` keeps such files exactly as that release wrote them;
when a release changes what DAG files name, add its files here beside the older ones."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import TESTS_DIR, airflow, airflow_env, load_dagbag

EARLIER = sorted((TESTS_DIR / "data").glob("exported_by_*"))
TASKS = {
    "l0_to_l1_vbi_1.0.0": {
        "ingest", "calibrate", "quality_check", "make_products", "frame_statistics", "publish",
    },
    "l0_to_quicklook_vbi_1.0.0": {"ingest", "check_raw", "calibrate", "check_calibrated"},
}  # fmt: skip


def test_there_are_earlier_exports_to_check():
    assert EARLIER, "tests/data/exported_by_* holds no earlier DAG files"


@pytest.mark.parametrize("target", ["kubernetes", "local"])
@pytest.mark.parametrize("earlier", EARLIER, ids=lambda p: p.name)
def test_an_earlier_release_s_dag_files_load_with_their_tasks(earlier: Path, target: str):
    bag = load_dagbag(earlier / target)
    assert bag.import_errors == {}
    assert {dag_id: set(dag.task_ids) for dag_id, dag in bag.dags.items()} == TASKS


@pytest.mark.slow
@pytest.mark.parametrize("earlier", EARLIER, ids=lambda p: p.name)
def test_an_earlier_release_s_local_dag_runs_on_this_one(earlier: Path, tmp_path):
    home = tmp_path / "home"
    env = airflow_env(home, earlier / "local")
    conf = {"data_root": str(tmp_path), "frame_size": 8}
    dag_id = "l0_to_quicklook_vbi_1.0.0"
    completed = airflow(env, "dags", "test", dag_id, "--conf", json.dumps(conf))
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    with sqlite3.connect(home / "airflow.db") as connection:
        states = dict(
            connection.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ?", (dag_id,)
            ).fetchall()
        )
    assert states == dict.fromkeys(TASKS[dag_id], "success")
