"""`processing-core init`: a new pipeline repository that works at once, installed into a
fresh virtualenv (with this checkout's wheel), where its own tests and its export pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import clean_env, fresh_venv, run_cli

pytestmark = pytest.mark.slow


def test_init_writes_a_repository_whose_tests_and_export_pass(tmp_path, processing_core_wheel):
    repository = tmp_path / "vbi-pipeline"
    made = run_cli("init", str(repository), "--name", "vbi-pipeline")
    assert made.returncode == 0, made.stderr
    names = sorted(str(p.relative_to(repository)) for p in repository.rglob("*") if p.is_file())
    assert names == sorted([
        ".gitignore", "Dockerfile", "README.md", "bitbucket-pipelines.yml", "changelog/.gitkeep",
        "pyproject.toml", "tests/test_workflows.py", "vbi_pipeline/__init__.py",
        "vbi_pipeline/tasks.py", "vbi_pipeline/workflows.py",
    ])  # fmt: skip
    dockerfile = (repository / "Dockerfile").read_text()
    assert 'ln -s "$(processing-core spark-main)" /opt/processing-core/spark_main.py' in dockerfile
    ci = (repository / "bitbucket-pipelines.yml").read_text()
    assert "processing-core bundle vbi_pipeline" in ci and "processing-core publish" in ci
    venv = fresh_venv(tmp_path / "venv", str(processing_core_wheel), "pytest>=8")
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
         str(repository)],
        capture_output=True, text=True, timeout=600, env=clean_env(venv),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    tests = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repository, capture_output=True, text=True, timeout=600, env=clean_env(venv),
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert "3 passed" in tests.stdout
    exported = subprocess.run(
        [str(venv / "bin" / "processing-core"), "export", "vbi_pipeline", "--out",
         str(tmp_path / "dags")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=clean_env(venv),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    # The version of the installed distribution names the DAG.
    assert [p.name for p in (tmp_path / "dags").iterdir()] == [
        "raw_to_summary_vbi_pipeline_0.1.0.py"
    ]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("9lives", "cannot name a pipeline"),
        ("bad name", "cannot name a pipeline"),
        ("processing-core", "cannot name a pipeline"),
        ("class", "cannot name a pipeline"),
        # A package named so would shadow what `import` finds now, or be shadowed by it.
        ("os", "'os', which is a module of Python's standard library"),
        ("json", "'json', which is a module of Python's standard library"),
        ("Requests", "'requests', which is a module this Python already imports"),
        ("pika", "'pika', which is a module this Python already imports"),
    ],
)
def test_init_refuses_names_that_cannot_be_a_package(tmp_path, name, fragment):
    made = run_cli("init", str(tmp_path / "repo"), "--name", name)
    assert made.returncode == 1
    assert fragment in made.stderr
    assert not (tmp_path / "repo").exists()


def test_init_never_writes_into_a_folder_that_holds_something(tmp_path: Path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "keep.txt").write_text("mine")
    made = run_cli("init", str(tmp_path / "repo"), "--name", "vbi-pipeline")
    assert made.returncode == 1
    assert "exists and is not an empty folder" in made.stderr
    assert [p.name for p in (tmp_path / "repo").iterdir()] == ["keep.txt"]
