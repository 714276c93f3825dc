"""The shipped CI configuration can run the suite: bitbucket-pipelines.yml's two test steps
run `.ci/run` (the README's test command: tests/test_docs.py) over the whole suite between them, with every
service the suite talks to (tests/services.py) and Java."""

from __future__ import annotations

import yaml
from conftest import REPO_ROOT
from services import SERVICES

PIPELINE = yaml.safe_load((REPO_ROOT / "bitbucket-pipelines.yml").read_text())


def step(name: str) -> dict:
    (found,) = [e["step"] for e in PIPELINE["definitions"]["steps"] if e["step"]["name"] == name]
    return found


def test_the_two_test_steps_run_the_whole_suite_and_every_pipeline_runs_both():
    assert step("Test")["script"][-1] == 'bash .ci/run -m "not namespaces"'
    assert step("Test pods")["script"][-1] == "bash .ci/run -m namespaces"
    for pipeline in [*PIPELINE["pipelines"]["pull-requests"].values(),
                     PIPELINE["pipelines"]["default"], *PIPELINE["pipelines"]["tags"].values()]:  # fmt: skip
        names = {
            entry["step"]["name"]
            for stage in pipeline
            for entry in stage.get("parallel", [stage])
            if "step" in entry
        }
        assert {"Test", "Test pods"} <= names, names


def test_the_test_step_starts_every_service_the_suite_uses_and_installs_java():
    test = step("Test")
    declared = PIPELINE["definitions"]["services"]
    for name in SERVICES:
        assert name in test["services"], f"the test step does not start {name}"
        assert name in declared and declared[name]["image"], f"{name} has no image"
    # The whole-Airflow tests connect as `postgres` without a password.
    assert declared["postgres"]["variables"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    rabbitmq = declared["rabbitmq"]["variables"]
    assert (rabbitmq["RABBITMQ_DEFAULT_USER"], rabbitmq["RABBITMQ_DEFAULT_PASS"]) == (
        "guest", "guest"
    )  # fmt: skip
    assert "openjdk-17-jre" in " ".join(test["script"]), "no Java for Spark's local mode"
    assert test["image"].startswith("python:3.11"), test["image"]
    # The pods' step needs root and namespaces: a shell runner of one's own.
    assert step("Test pods")["runs-on"] == ["self.hosted", "linux.shell"]
