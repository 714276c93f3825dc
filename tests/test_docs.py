"""The README stays in step with the code: settings table, commands and their options."""

from __future__ import annotations

import re

import typer.main
from conftest import REPO_ROOT, run_cli

from processing_core.cli import app
from processing_core.config import Settings, settings_markdown
from processing_core.runtime.command import parser as run_task_parser

README = (REPO_ROOT / "README.md").read_text()


def test_readme_settings_table_is_what_settings_markdown_prints():
    table = re.search(
        r"<!-- settings-table:start -->\n(.*)<!-- settings-table:end -->", README, re.S
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


def test_readme_names_every_command_and_option():
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert f"processing-core {name}" in README, name
        for parameter in command.params:
            for flag in parameter.opts:
                if flag.startswith("--") and flag != "--help":
                    assert flag in README, f"{name} {flag}"
    # run-task's options are argparse's (parsed before typer is imported).
    for action in run_task_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert flag in README, f"run-task {flag}"


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


def test_readme_quickstart_commands_are_the_tested_ones():
    assert '.venv/bin/pip install -e ".[dev]"' in README
    assert ".venv/bin/processing-core export workflows --out dags --version 1.0.0" in README
    assert QUICKSTART_RUN in README  # run by tests/test_local_run.py
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest" in README
    assert ci.strip().splitlines()[-1] == ".venv/bin/python -m pytest"
