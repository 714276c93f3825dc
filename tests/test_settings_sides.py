"""Settings per side: a running task reads only the concerns it uses, so a setting of another
side (an export-only one, telemetry without an endpoint: OTEL_* variables are shared with
other OpenTelemetry software) can never fail it, and its start imports none of what it does
not use. Its own event settings are checked whenever one is set, events on or off."""

from __future__ import annotations

import json
from typing import Literal, get_args

import pytest
from conftest import run_cli

from processing_core import environment
from processing_core.config import (
    READERS,
    EventSettings,
    ExportSettings,
    RunSettings,
    Settings,
    load,
    load_settings,
)
from processing_core.errors import SettingsError
from processing_core.runtime.run_settings import LEVELS, LOG_FORMATS, READ_AT_START, RunOptions

IDENTITY = ("--workflow-name=w", "--workflow-version=1", "--task-id=t", "--result-path=-")


def run_task(task: str, **env: str):
    completed = run_cli("run-task", f"sample_tasks:{task}", *IDENTITY, **env)
    lines = completed.stdout.strip().splitlines()
    return completed, (json.loads(lines[-1]) if lines else None)


def test_an_export_only_setting_never_fails_a_running_task():
    bad = {"SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES": "9", "K8S_NAMESPACE": "Not A Namespace"}
    completed, result = run_task("Echo", **bad)
    assert completed.returncode == 0, completed.stderr
    assert result["status"] == "success"
    for variable, fragment in (
        ("SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES", "SPARK_ON_K8S_EXECUTOR_MIN_INSTANCES=9 is above"),
        ("K8S_NAMESPACE", "K8S_NAMESPACE: String should match pattern"),
    ):
        export = run_cli("validate", "workflows", **{variable: bad[variable]})
        assert export.returncode == 1
        assert fragment in export.stderr


def test_telemetry_settings_are_read_only_when_spans_are_exported():
    bogus = {"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}
    completed, _ = run_task("Echo", **bogus)
    assert completed.returncode == 0, completed.stderr
    exported = {**bogus, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    completed, _ = run_task("Echo", **exported)
    assert completed.returncode == 2
    assert "OTEL_EXPORTER_OTLP_PROTOCOL: Input should be 'http/protobuf' or 'grpc'" in (
        completed.stderr
    )


def test_a_bad_run_setting_stops_the_run_before_the_task():
    completed, _ = run_task("Echo", LOGURU_LEVEL="LOUD")
    assert completed.returncode == 2
    assert "LOGURU_LEVEL: Input should be 'TRACE', 'DEBUG'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_quiet_run_imports_no_settings_telemetry_or_cli_library():
    completed, result = run_task("ReportsItsImports")
    assert completed.returncode == 0, completed.stderr
    assert result["outputs"] == {"imported": [], "sdk": False}
    # Airflow's trace context alone brings the OpenTelemetry API, never the SDK.
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    completed, result = run_task("ReportsItsImports", TRACEPARENT=traceparent)
    assert result["outputs"] == {"imported": ["opentelemetry"], "sdk": False}
    # Run settings RunSettings takes as they are need no pydantic either.
    completed, result = run_task("ReportsItsImports", LOG_FORMAT="json", LOGURU_LEVEL="debug")
    assert result["outputs"] == {"imported": [], "sdk": False}


def test_event_settings_are_checked_when_set_even_with_events_off():
    # As `processing-core settings` checks them: exit 2 naming the variable, before the task.
    completed, result = run_task("Echo", EVENTS_ENABLED="false", ISB_PORT="abc")
    assert completed.returncode == 2
    assert "ISB_PORT: Input should be a valid integer" in completed.stderr
    assert "Traceback" not in completed.stderr and result is None
    shown = run_cli("settings", ISB_PORT="abc")
    assert shown.returncode == 1 and "ISB_PORT: Input should be a valid integer" in shown.stderr
    completed, result = run_task("Echo", EVENTS_ENABLED="false", ISB_PORT="5673")
    assert completed.returncode == 0 and result["status"] == "success"


def test_the_event_variables_are_the_event_settings():
    assert set(environment.EVENT_VARIABLES) == set(EventSettings.model_fields) - {"events_enabled"}


def test_the_broker_password_is_masked_even_when_events_are_off():
    completed, _ = run_task("PrintsTheBrokerPassword", ISB_PASSWORD="s3cr3t-pw")
    assert completed.returncode == 0, completed.stderr
    assert "s3cr3t-pw" not in completed.stderr
    assert "password: ***" in completed.stderr


def test_the_quick_path_agrees_with_the_settings_classes():
    defaults = RunOptions()
    fields = RunSettings.model_fields
    assert get_args(fields["loguru_level"].annotation) == LEVELS
    assert get_args(fields["log_format"].annotation) == (Literal[LOG_FORMATS], type(None))
    assert defaults.loguru_level == fields["loguru_level"].default
    assert defaults.log_format == fields["log_format"].default
    assert defaults.result_path == fields["result_path"].default
    assert set(READ_AT_START) <= set(fields)
    secret_fields = {
        name
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert set(environment.SECRET_VARIABLES) == secret_fields


def test_every_setting_belongs_to_exactly_one_concern():
    names = [name for concern in READERS for name in concern.model_fields]
    assert len(names) == len(set(names)) == len(Settings.model_fields)


def test_every_concerns_validators_hold_in_the_combined_settings(monkeypatch):
    # Settings inherits every concern: two validators of one name would leave only the
    # first base's, and a value one concern accepts would fail `processing-core settings`.
    decorators = [concern.__pydantic_decorators__ for concern in READERS]
    names = [
        name
        for found in decorators
        for kind in (found.field_validators, found.model_validators, found.field_serializers)
        for name in kind
    ]
    assert len(names) > 5 and len(names) == len(set(names)), sorted(names)
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "LOG_FORMAT", "OPENLINEAGE_PARENT_ID"):
        monkeypatch.setenv(variable, "")
    settings = load_settings()
    assert settings.otel_exporter_otlp_endpoint is None and settings.log_format is None
    assert settings.openlineage_parent_id is None


def test_names_in_any_case_and_json_values(monkeypatch):
    monkeypatch.setenv("k8s_namespace", "lower-case-name")
    monkeypatch.setenv("Retry_Config", '{"attempts": 4}')
    settings = load_settings()
    assert settings.k8s_namespace == "lower-case-name"
    assert settings.retry_config.attempts == 4
    monkeypatch.setenv("K8S_VOLUMES", "")  # an empty JSON value is no value
    assert load(ExportSettings).k8s_volumes == []


def test_a_concern_reports_only_its_own_variables(monkeypatch):
    monkeypatch.setenv("ISB_PORT", "99999")
    monkeypatch.setenv("K8S_NAMESPACE", "Bad Name")
    with pytest.raises(SettingsError) as raised:
        load(EventSettings)
    assert "ISB_PORT" in str(raised.value)
    assert "K8S_NAMESPACE" not in str(raised.value)
    assert load(RunSettings).loguru_level == "INFO"
