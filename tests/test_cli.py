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
        if type(task).__name__ == "SparkKubernetesOperator"
        else task.image
        for task in dag.tasks
    }
    assert images == {digest}
