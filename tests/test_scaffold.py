"""`processing-core init`: a new pipeline repository that works at once: its README's commands,
run as written in a fresh virtualenv, install it (with the processing-core that wrote it),
run, graph and export it, and pass its tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import clean_env, run_cli

pytestmark = pytest.mark.slow


def readme_commands(repository: Path) -> list[str]:
    """The command lines of the generated README's first shell block, as written."""
    text = (repository / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_generated_readme_works_verbatim_in_a_fresh_virtualenv(tmp_path, base_venv):
    """init by a processing-core installed from a wheel (not from an index): the scaffold
    depends on that wheel (PEP 610), and every command of its README works as written."""
    repository = tmp_path / "vbi-pipeline"
    made = subprocess.run(
        [str(base_venv / "bin" / "processing-core"), "init", str(repository), "--name",
         "vbi-pipeline"],
        capture_output=True, text=True, timeout=120, env=clean_env(base_venv),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "a path of this machine" in made.stderr  # said before it is pushed anywhere
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
    project = (repository / "pyproject.toml").read_text()
    assert '"processing-core @ file:///' in project and ".whl" in project
    assert "allow-direct-references = true" in project
    # A second workflow: the scaffold's tests find it without being told.
    workflows = repository / "vbi_pipeline" / "workflows.py"
    workflows.write_text(
        workflows.read_text()
        + "\nagain = Workflow('raw', 'again', 'vbi_pipeline', workflow_package=__package__,\n"
        + "                 parameters=raw_to_summary.parameters, volumes=[DATA])\n"
        + "again.add_node(Extract)\n"
    )

    commands = readme_commands(repository)
    assert commands[0].startswith("python3 -m venv .venv && .venv/bin/pip install -e .")
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command], cwd=repository, capture_output=True, text=True,
            timeout=900, env=clean_env(base_venv),
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        if "-m pytest" in command:
            assert "3 passed" in done.stdout
    # What those commands left: a successful run, the graph, one DAG file per workflow.
    summaries = sorted((repository / "runs").glob("*/*/run.json"))
    assert len(summaries) == 2  # both workflows ran
    assert all('"failed"' not in summary.read_text() for summary in summaries)
    assert sorted(p.name for p in (repository / "dags").iterdir()) == [
        "raw_to_again_vbi_pipeline_0.1.0.py", "raw_to_summary_vbi_pipeline_0.1.0.py",
    ]  # fmt: skip


def test_init_depends_on_the_processing_core_it_is_told(tmp_path):
    made = run_cli("init", str(tmp_path / "repo"), "--name", "vbi-pipeline",
                   "--processing-core", "processing-core>=1.4,<2")  # fmt: skip
    assert made.returncode == 0, made.stderr
    project = (tmp_path / "repo" / "pyproject.toml").read_text()
    assert 'dependencies = ["processing-core<2,>=1.4"]' in project
    assert '"processing-core[spark]<2,>=1.4"' in project
    assert '"processing-core[airflow,graph]<2,>=1.4"' in project
    assert "allow-direct-references" not in project and "note:" not in made.stderr
    refused = run_cli("init", str(tmp_path / "other"), "--name", "vbi-pipeline",
                      "--processing-core", "requests>=2")  # fmt: skip
    assert refused.returncode == 1 and not (tmp_path / "other").exists()
    assert "--processing-core 'requests>=2' is not a requirement of processing-core" in (
        refused.stderr
    )


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
