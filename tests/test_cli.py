"""The command line as a person uses it."""

from __future__ import annotations

from conftest import run_cli


def test_help_lists_every_command():
    completed = run_cli("--help")
    assert completed.returncode == 0
    for command in ("export", "validate", "list", "run-task"):
        assert command in completed.stdout


def test_list_shows_workflows_versions_dag_ids_and_task_counts():
    completed = run_cli("list", "workflows", "--version", "1.2.3")
    assert completed.returncode == 0, completed.stderr
    rows = [line for line in completed.stdout.splitlines() if "l0_to" in line]
    assert len(rows) == 2
    assert "l0_to_l1_vbi" in rows[0] and "l0_to_l1_vbi_1.2.3" in rows[0] and "6" in rows[0]
    # Airflow's tasks: six nodes and the list task of the one mapped per frame.
    assert "l0_to_quicklook_vbi_1.2.3" in rows[1] and "7" in rows[1]


def test_validate_reports_success():
    completed = run_cli("validate", "workflows", "--version", "1.2.3", "--target", "local")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "2 workflow(s) valid."


def test_build_version_sets_the_version_when_none_is_given(tmp_path):
    completed = run_cli("export", "workflows", "--out", str(tmp_path), BUILD_VERSION="4.5.6")
    assert completed.returncode == 0, completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "l0_to_l1_vbi_4.5.6.py",
        "l0_to_quicklook_vbi_4.5.6.py",
    ]


def test_image_with_digest_is_used_verbatim(tmp_path):
    digest = "registry.example.org/vbi@sha256:" + "a" * 64
    completed = run_cli("export", "workflows", "--out", str(tmp_path), "--version", "1.0.0",
                        "--image", digest)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    from conftest import load_dagbag

    dag = load_dagbag(tmp_path).dags["l0_to_l1_vbi_1.0.0"]
    images = {
        task.template_spec["spark"]["spec"]["image"]
        if type(task).__name__ == "SparkApplicationTask"
        else task.image
        for task in dag.tasks
    }
    assert images == {digest}


def every_command_line() -> list[list[str]]:
    import typer

    from processing_core.cli import app

    root = typer.main.get_command(app)
    lines = [[]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        lines.append([name])
        lines.extend([name, sub] for sub in getattr(command, "commands", {}))
    return [line for line in lines if line != ["run-task"]]  # argparse's own help


def test_help_names_values_as_people_do():
    """No Python type labels (`<bool>`, `<str>`, `<path>`, `<list[str]>`) and no braced
    arguments (`{package}`) in any command's help; every argument in capitals."""
    import re

    from typer.testing import CliRunner

    from processing_core.cli import app

    runner = CliRunner()
    for line in every_command_line():
        shown = runner.invoke(app, [*line, "--help"], terminal_width=120).output
        assert "Usage: processing-core" in shown, (line, shown)
        assert not re.search(r"<(bool|str|path|int|float|list\[\w+\])", shown), (line, shown)
        usage = next(row for row in shown.splitlines() if "Usage:" in row)
        assert "{" not in usage and not re.search(r"\[OPTIONS\] [a-z]", usage), usage
    run_help = runner.invoke(app, ["run", "--help"], terminal_width=120).output
    assert re.search(r"--force\s+Run the tasks", run_help)  # a flag: nothing between
    assert re.search(r"--run-dir\s+PATH", run_help)
    assert "processing-core run [OPTIONS] PACKAGE[:WORKFLOW]" in run_help
