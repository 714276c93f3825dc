"""A resource profile can send the local target's tasks to a Celery queue."""

from __future__ import annotations

import json

import pytest
import sample_tasks

from processing_core import Workflow
from processing_core.airflow import to_dag
from processing_core.config import load_settings
from processing_core.errors import SettingsError


def workflow() -> Workflow:
    flow = Workflow("raw", "clean", "queued", version="1.0.0", workflow_package="sample_tasks")
    flow.add_node(sample_tasks.Echo, task_id="anywhere")
    flow.add_node(sample_tasks.Echo, task_id="on_big_workers", resource_profile="high_memory")
    return flow


def test_a_profile_queue_reaches_the_local_targets_operator(monkeypatch):
    monkeypatch.setenv(
        "RESOURCE_PROFILES", '{"high_memory": {"queue": "big-workers", "pool": "big"}}'
    )
    dag = to_dag(workflow(), "local", settings=load_settings())
    assert dag.get_task("on_big_workers").queue == "big-workers"
    assert dag.get_task("on_big_workers").pool == "big"
    assert dag.get_task("anywhere").queue == "default"  # Airflow's own default


def test_the_kubernetes_target_leaves_the_queue_to_airflow(monkeypatch):
    monkeypatch.setenv("RESOURCE_PROFILES", '{"high_memory": {"queue": "big-workers"}}')
    dag = to_dag(workflow(), "kubernetes", settings=load_settings())
    assert dag.get_task("on_big_workers").queue == "default"


@pytest.mark.parametrize("queue", ["", "two words", "{{ var.value.q }}"])
def test_a_queue_name_is_checked(monkeypatch, queue):
    monkeypatch.setenv("RESOURCE_PROFILES", json.dumps({"gpu": {"queue": queue}}))
    with pytest.raises(SettingsError, match="RESOURCE_PROFILES"):
        load_settings()
