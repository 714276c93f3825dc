"""The pipeline image's view: the wheel installed into a clean virtualenv without extras.

No Airflow, no providers, no pyspark, no towncrier; authoring, export and `run-task` work,
and what needs an extra says which one.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import REPO_ROOT, TESTS_DIR, clean_env

pytestmark = pytest.mark.slow


def test_the_base_install_has_no_airflow_no_spark_and_no_towncrier(base_venv):
    listed = subprocess.run(
        [str(base_venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True, text=True, timeout=120, env=clean_env(base_venv),
    )  # fmt: skip
    names = {package["name"].lower() for package in json.loads(listed.stdout)}
    assert "processing-core" in names
    assert not names & {"apache-airflow", "apache-airflow-core", "pyspark", "towncrier",
                        "apache-airflow-providers-cncf-kubernetes", "kubernetes", "grpcio"}  # fmt: skip
    probe = "import importlib.util as u; print(u.find_spec('airflow') is None)"
    found = subprocess.run([str(base_venv / "bin" / "python"), "-c", probe],
                           capture_output=True, text=True, env=clean_env(base_venv))  # fmt: skip
    assert found.stdout.strip() == "True"


def test_export_and_run_task_work_without_extras(base_venv, tmp_path):
    cli = str(base_venv / "bin" / "processing-core")
    exported = subprocess.run(
        [cli, "export", "workflows", "--out", str(tmp_path / "dags"), "--version", "1.0.0"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=clean_env(base_venv),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in (tmp_path / "dags").iterdir()) == [
        "l0_to_l1_vbi_1.0.0.py",
        "l0_to_quicklook_vbi_1.0.0.py",
    ]
    result = tmp_path / "result.json"
    ran = subprocess.run(
        [cli, "run-task", "sample_tasks:Echo", "--workflow-name=w", "--workflow-version=1",
         "--task-id=echo", '--parameters={"seed": 3}', f"--result-path={result}"],
        capture_output=True, text=True, timeout=300,
        env=clean_env(base_venv, PYTHONPATH=str(TESTS_DIR)),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(result.read_text())["outputs"]["parameters"] == {"seed": 3}


def test_what_needs_an_extra_names_it(base_venv, tmp_path):
    cli = str(base_venv / "bin" / "processing-core")
    bundled = subprocess.run(
        [cli, "bundle", "workflows", "--version", "1.0.0", "--out", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=clean_env(base_venv),
    )  # fmt: skip
    assert bundled.returncode == 0, bundled.stderr
    verified = subprocess.run(
        [cli, "verify", bundled.stdout.strip().splitlines()[-1]],
        capture_output=True, text=True, timeout=300, env=clean_env(base_venv),
    )  # fmt: skip
    assert verified.returncode == 1
    assert "install 'processing-core[airflow]'" in verified.stderr
    assert "Traceback" not in verified.stderr


def test_lineage_configured_without_its_client_costs_one_warning(base_venv, tmp_path):
    # OpenLineage set up in the image's environment, but the [lineage] extra not installed.
    result = tmp_path / "result.json"
    ran = subprocess.run(
        [str(base_venv / "bin" / "processing-core"), "run-task", "sample_tasks:Echo",
         "--workflow-name=w", "--workflow-version=1", "--task-id=echo",
         f"--result-path={result}"],
        capture_output=True, text=True, timeout=300,
        env=clean_env(base_venv, PYTHONPATH=str(TESTS_DIR), OPENLINEAGE_URL="http://127.0.0.1:9"),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert json.loads(result.read_text())["status"] == "success"
    warnings = [line for line in ran.stderr.splitlines() if "OpenLineage" in line]
    assert len(warnings) == 1 and "install processing-core[lineage]" in warnings[0], warnings
