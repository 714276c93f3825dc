"""The pipeline image's view: the wheel installed into a clean virtualenv without extras.

No Airflow, no providers, no pyspark, no towncrier; authoring, export and `run-task` work,
and what needs an extra says which one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, TESTS_DIR

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def base_venv(tmp_path_factory) -> Path:
    """One wheel of this checkout, installed once into a fresh virtualenv."""
    root = tmp_path_factory.mktemp("base-install")
    wheel_dir = root / "wheel"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(wheel_dir), str(REPO_ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheel_dir.glob("processing_core-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def clean_env(venv: Path, **extra: str) -> dict[str, str]:
    # Nothing of the development environment: its PATH, PYTHONPATH or settings.
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "EVENTS_ENABLED": "false",
    }
    env.update(extra)
    return env


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
