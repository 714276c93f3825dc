"""The lowest Airflow that pyproject.toml claims is one the tests run: a virtualenv with
exactly that release (and this checkout's wheel), where the example's DAG files of both
targets parse with Airflow's own DagBag, without a warning of a feature that release lacks,
and a run of the quicklook workflow (a mapped node included) succeeds under
`airflow dags test`. The rest of the suite runs the newest release pip resolves."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import REPO_ROOT, clean_env, fresh_venv

pytestmark = pytest.mark.slow
QUICKLOOK = "l0_to_quicklook_vbi_1.0.0"


def claimed_floor() -> str:
    """X of `apache-airflow>=X,<4` in the [airflow] extra."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (requirement,) = [
        r for r in project["optional-dependencies"]["airflow"] if r.startswith("apache-airflow>=")
    ]
    found = re.fullmatch(r"apache-airflow>=([0-9.]+),<4", requirement)
    assert found, requirement
    return found.group(1)


@pytest.fixture(scope="module")
def floor_venv(tmp_path_factory: pytest.TempPathFactory, processing_core_wheel: Path) -> Path:
    root = tmp_path_factory.mktemp("airflow-floor")
    return fresh_venv(
        root / "venv", f"{processing_core_wheel}[airflow]", f"apache-airflow=={claimed_floor()}"
    )


def run(venv: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]], cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=600, env=clean_env(venv, PYTHONPATH=str(REPO_ROOT), **env),
    )  # fmt: skip


def test_the_lowest_claimed_airflow_parses_and_runs_the_example(floor_venv, tmp_path):
    version = run(floor_venv, "python", "-c", "import airflow; print(airflow.__version__)")
    assert version.stdout.strip() == claimed_floor(), version.stderr[-2000:]
    for target in ("kubernetes", "local"):
        out = tmp_path / target
        exported = run(floor_venv, "processing-core", "export", "workflows", "--out", str(out),
                       "--version", "1.0.0", "--target", target)  # fmt: skip
        assert exported.returncode == 0, exported.stderr[-3000:]
        parsed = run(floor_venv, "python", "-W", "always", "-c", (
            "import json, pathlib; from processing_core.airflow.dagbag import parse_folder; "
            f"p = parse_folder(pathlib.Path({str(out)!r})); "
            "print(json.dumps([sorted(p.dags), p.import_errors]))"
        ))  # fmt: skip
        assert parsed.returncode == 0, parsed.stderr[-3000:]
        dags, errors = json.loads(parsed.stdout.strip().splitlines()[-1])
        assert errors == {} and dags == ["l0_to_l1_vbi_1.0.0", QUICKLOOK], (target, errors)
        # Airflow warns when an argument does nothing on this release (`durable` below 3.3).
        assert "has no effect on Airflow versions" not in parsed.stderr, parsed.stderr[-3000:]

    home = tmp_path / "home"
    home.mkdir()
    airflow_env = {
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "local"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }  # fmt: skip
    migrated = run(floor_venv, "airflow", "db", "migrate", **airflow_env)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    conf = json.dumps({"data_root": str(tmp_path / "data"), "frame_count": 3})
    tested = run(floor_venv, "airflow", "dags", "test", QUICKLOOK, "--conf", conf, **airflow_env)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    with sqlite3.connect(home / "airflow.db") as db:
        states = db.execute(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ?", (QUICKLOOK,)
        ).fetchall()
    assert {state for _, _, state in states} == {"success"}, states
    assert sorted(i for task, i, _ in states if task == "frame_quick_look") == [0, 1, 2]
