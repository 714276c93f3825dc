"""The README and docs/ stay in step with the code: settings table, commands and their
options, the quickstart, and a documentation site that builds with every warning an error."""

from __future__ import annotations

import os
import re
import subprocess
from importlib.util import find_spec

import pytest
import typer.main
from conftest import REPO_ROOT, VENV_BIN, run_cli

from processing_core.cli import app
from processing_core.config import Settings, settings_markdown
from processing_core.runtime.command import parser as run_task_parser

README = (REPO_ROOT / "README.md").read_text()
PAGES = {path.name: path.read_text() for path in sorted((REPO_ROOT / "docs").glob("*.md"))}


def test_settings_table_is_what_settings_markdown_prints():
    table = re.search(
        r"<!-- settings-table:start -->\n(.*)<!-- settings-table:end -->",
        PAGES["settings.md"],
        re.S,
    )
    assert table is not None
    printed = run_cli("settings", "--markdown")
    assert printed.returncode == 0, printed.stderr
    assert table.group(1) == printed.stdout == settings_markdown()
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in table.group(1)


def test_settings_prints_current_values_with_secrets_masked():
    printed = run_cli("settings", ISB_PASSWORD="hunter2-secret", K8S_NAMESPACE="science")
    assert printed.returncode == 0, printed.stderr
    assert "K8S_NAMESPACE=science" in printed.stdout.splitlines()
    assert "ISB_PASSWORD=**********" in printed.stdout.splitlines()
    assert "hunter2-secret" not in printed.stdout + printed.stderr


def test_the_command_line_page_names_every_command_and_option():
    """Each command and option, as a whole word of docs/cli.md's summary (`--out` is not
    found inside `--output`)."""
    summary = PAGES["cli.md"]

    def named(flag: str) -> bool:
        return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", summary) is not None

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert f"processing-core {name}" in summary, name
        for parameter in command.params:
            for flag in parameter.opts:
                if flag.startswith("--") and flag != "--help":
                    assert named(flag), f"{name} {flag}"
    # run-task's options are argparse's (parsed before typer is imported).
    for action in run_task_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert named(flag), f"run-task {flag}"


def test_run_task_help_lists_its_options_and_exit_codes():
    shown = run_cli("run-task", "--help")
    assert shown.returncode == 0
    assert "--declared-parameters" in shown.stdout
    assert "143" in shown.stdout  # the exit codes
    listed = run_cli("--help")
    assert "run-task" in listed.stdout


QUICKSTART_RUN = (
    ".venv/bin/processing-core run workflows:l0_to_l1_vbi --version 1.0.0 --param data_root=data"
)


TEST_COMMAND = '.venv/bin/pip install -q -e ".[dev]" && .venv/bin/python -m pytest'


def test_readme_quickstart_commands_are_the_tested_ones():
    assert '.venv/bin/pip install -e ".[spark]"' in README  # the smallest the example needs
    assert ".venv/bin/processing-core export workflows --out dags --version 1.0.0" in README
    assert QUICKSTART_RUN in README  # run by tests/test_local_run.py
    # The README's test command is what CI runs, word for word (with the arguments `.ci/run`
    # is given: bitbucket-pipelines.yml selects by marker; tests/test_ci_pipeline.py).
    assert TEST_COMMAND in README
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == f'{TEST_COMMAND} "$@"'


def test_the_readme_is_a_front_page_whose_links_reach_the_docs():
    assert len(README.splitlines()) < 120
    for target in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (REPO_ROOT / target).is_file(), target
    linked = set(re.findall(r"\]\(docs/([^)#]+)", README))
    assert linked >= set(PAGES) - {"index.md"}, set(PAGES) - linked


def test_the_documentation_builds_with_every_warning_an_error(tmp_path):
    """MkDocs in strict mode: a broken link or anchor, a page missing from the navigation, or
    an API reference entry that names nothing fails the build."""
    if find_spec("mkdocs") is None or find_spec("mkdocstrings") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mkdocs and mkdocstrings are not installed: install processing-core[dev]")
        pytest.skip("mkdocs and mkdocstrings are not installed (processing-core[docs])")
    built = subprocess.run(
        [str(VENV_BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    for documented in ("TaskBase", "Workflow", "run_workflow", "RunContext"):
        assert documented in reference, documented
