"""Secrets never leave the run: canary values searched for in everything a run lets out.

A task puts every secret it can reach (its SecretRef variable, ISB_PASSWORD,
ARTIFACTORY_TOKEN) into its error, a print, a library's log line and a span. The canaries
must appear in no output stream (human and JSON logs, with and without routed standard
logging), no result, no event (published or kept in the outbox), no span and no CLI error.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import VENV_BIN, run_cli, subprocess_env
from rabbitmq import Bus, require_rabbitmq

DB_CANARY = "canary-db-7f3a9c"
TOKEN_CANARY = "canary-token-51be02"
ISB_CANARY = "canary-isb-c0ffee"
CANARIES = (DB_CANARY, TOKEN_CANARY, ISB_CANARY)
IDENTITY = ["--workflow-name=l0_to_l1_vbi", "--workflow-version=3.0.0", "--task-id=leaky",
            "--run-id=manual__1"]  # fmt: skip


def assert_clean(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text, (
                f"{canary} leaked into: ...{text[text.find(canary) - 200 :][:400]}"
            )


def leaky_run(
    tmp_path: Path, env: dict[str, str], task: str = "sample_tasks:LeaksSecrets"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "processing-core"), "run-task", task, *IDENTITY,
         f"--result-path={tmp_path / 'result.json'}"],
        env=subprocess_env(DB_PASSWORD=DB_CANARY, ARTIFACTORY_TOKEN=TOKEN_CANARY,
                           EVENTS_OUTBOX=str(tmp_path / "outbox"), **env),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "logging_env",
    [
        {"LOG_FORMAT": "human"},
        {"LOG_FORMAT": "json"},
        {"LOG_FORMAT": "human", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "logging"},
    ],
    ids=["human", "json", "standard-logging-not-routed"],
)
def test_no_secret_leaves_a_run_through_any_exit(tmp_path, receiver, bus, logging_env):
    completed = leaky_run(tmp_path, {**bus.env(), **receiver.env(), **logging_env})
    assert completed.returncode == 1
    result = (tmp_path / "result.json").read_text()
    events = [body.decode() for _, _, body in bus.messages(2, timeout=5)]
    spans = receiver.wait_for_spans(3)
    assert len(events) == 2 and "login failed: ********" in result
    assert "stdout: ********" in completed.stdout
    assert "library log: ********" in completed.stderr  # standard logging, routed or not
    assert_clean(completed.stdout, completed.stderr, result, *events, *map(str, spans))


def test_a_secret_in_a_failing_init_never_shows(tmp_path, bus):
    completed = leaky_run(tmp_path, {**bus.env(), "LOG_FORMAT": "human"}, "sample_tasks:BrokenInit")
    assert completed.returncode == 1
    result = (tmp_path / "result.json").read_text()
    assert "cannot start with ********" in result
    events = [body.decode() for _, _, body in bus.messages(2, timeout=5)]
    assert len(events) == 2
    assert_clean(completed.stdout, completed.stderr, result, *events)


def test_no_secret_reaches_the_outbox_when_the_broker_refuses_the_password(tmp_path):
    require_rabbitmq()
    bus = Bus()
    completed = leaky_run(
        tmp_path, bus.env(ISB_PASSWORD=ISB_CANARY, RETRY_CONFIG='{"attempts": 1}')
    )
    assert completed.returncode == 1
    kept = sorted((tmp_path / "outbox").glob("*.event"))
    assert len(kept) == 2  # task.started and task.failed, kept for later
    assert_clean(completed.stdout, completed.stderr, *(p.read_text() for p in kept))
    assert "login failed: ******** ******** ********" in (tmp_path / "result.json").read_text()


def test_settings_and_cli_errors_mask_passwords_in_urls():
    url = f"http://collector:{TOKEN_CANARY}@otel.example.org:4318/v1/traces"
    shown = run_cli("settings", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=url, ISB_PASSWORD=ISB_CANARY)
    assert shown.returncode == 0, shown.stderr
    assert (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://collector:********@otel.example.org"
        in shown.stdout
    )
    assert_clean(shown.stdout, shown.stderr)
    refused = run_cli("publish", "missing.zip", "--url", url)
    assert refused.returncode == 1
    assert_clean(refused.stdout, refused.stderr)


@pytest.mark.parametrize(
    "address",
    [
        f"amqp://bus:{TOKEN_CANARY}@rabbit.internal",  # a URL
        f"amqp://bus:p@ss/{TOKEN_CANARY}@rabbit.internal",  # a password holding @ and /
        f"bus:{TOKEN_CANARY}@rabbit.internal",  # user:password@host without a scheme
        f"{TOKEN_CANARY}@rabbit.internal",  # a token alone
    ],
)
def test_settings_mask_credentials_inside_mesh_config(address):
    mesh = json.dumps({"interservice-bus": {"mesh_address": address, "mesh_port": 5672}})
    shown = run_cli("settings", MESH_CONFIG=mesh)
    assert shown.returncode == 0, shown.stderr
    assert "@rabbit.internal" in shown.stdout and "********" in shown.stdout
    assert_clean(shown.stdout, shown.stderr)
    assert "p@ss" not in shown.stdout


def test_a_debug_traceback_is_masked_too(tmp_path):
    url = f"http://user:{TOKEN_CANARY}@127.0.0.1:9/dags"
    archive = tmp_path / "x.zip"
    archive.write_bytes(b"PK")
    completed = run_cli("--debug", "publish", str(archive), "--url", url)
    assert completed.returncode == 1
    assert "Traceback" in completed.stderr  # --debug shows it ...
    assert_clean(completed.stdout, completed.stderr)  # ... masked
    plain = run_cli("publish", str(archive), "--url", url)
    assert "Traceback" not in plain.stderr and "--url holds credentials" in plain.stderr
