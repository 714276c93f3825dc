"""Environment variables as processing-core reads them: names in any case.

The one reader of `os.environ` for settings: `config.load()` validates what it finds with
pydantic, and a task run first looks here, importing nothing, to skip the concerns it does
not use (events off, no telemetry endpoint, no run setting changed).
"""

from __future__ import annotations

import os

# What pydantic reads as False; anything else is left for its validation to judge.
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})

# Variables holding secrets (SecretStr settings): masked in every text of a run, whichever
# concern reads them (tests/test_settings_sides.py keeps this equal to the settings').
SECRET_VARIABLES = (
    "isb_password",
    "otel_exporter_otlp_headers",
    "otel_exporter_otlp_traces_headers",
    "otel_exporter_otlp_metrics_headers",
    "artifactory_token",
    "artifactory_password",
    "airflow_api_token",
    "bundle_signing_key_passphrase",
    "openlineage_api_key",
)


# The event settings besides EVENTS_ENABLED: checked whenever one is set, events on or off
# (tests/test_settings_sides.py keeps this equal to EventSettings').
EVENT_VARIABLES = (
    "isb_host",
    "isb_port",
    "mesh_config",
    "isb_username",
    "isb_password",
    "isb_exchange",
    "isb_queue",
    "isb_queue_type",
    "isb_timeout_seconds",
    "retry_config",
    "events_outbox",
)


def lowered() -> dict[str, str]:
    """The environment with lower-case names (a later duplicate in another case wins)."""
    return {key.lower(): value for key, value in os.environ.items()}


def given(*names: str) -> bool:
    """Whether any of the variables (lower-case names) is set to something not blank."""
    environment = lowered()
    return any(environment.get(name, "").strip() for name in names)


def openlineage_given() -> bool:
    """Whether the OpenLineage client is told where to send events, as it looks: a URL, a
    configuration file (OPENLINEAGE_CONFIG, else `openlineage.yml` in the working folder or
    `~/.openlineage/`) or OPENLINEAGE__TRANSPORT__* variables."""
    if given("openlineage_url", "openlineage_config"):
        return True
    if any(name.startswith("openlineage__transport") for name in lowered()):
        return True
    places = (os.curdir, os.path.join(os.path.expanduser("~"), ".openlineage"))
    return any(os.path.isfile(os.path.join(place, "openlineage.yml")) for place in places)


def turned_off(name: str) -> bool:
    """Whether a boolean variable is set to a false word (0, off, false, no...)."""
    return lowered().get(name, "").strip().lower() in _FALSE


def secret_values() -> list[str]:
    """The raw values of every secret variable that is set."""
    environment = lowered()
    return [environment[name] for name in SECRET_VARIABLES if environment.get(name)]


def comma_separated(text: str) -> list[str]:
    """The names of a comma-separated variable's value, blanks dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]
