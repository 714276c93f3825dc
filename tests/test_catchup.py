"""`Workflow(catchup=...)`: a scheduled workflow may catch up on the intervals it missed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sample_tasks

from processing_core import Workflow, WorkflowDefinitionError
from processing_core.airflow import to_dag
from processing_core.config import load_settings


def scheduled(**options) -> Workflow:
    workflow = Workflow("raw", "clean", "nightly", version="1.0.0", schedule="@daily",
                        start_date=datetime(2026, 1, 1, tzinfo=UTC), **options)  # fmt: skip
    workflow.add_node(sample_tasks.Echo)
    return workflow


def test_catchup_reaches_the_dag_and_is_off_by_default():
    assert to_dag(scheduled(), "local", settings=load_settings()).catchup is False
    assert to_dag(scheduled(catchup=True), "local", settings=load_settings()).catchup is True


def test_catchup_must_be_a_bool():
    with pytest.raises(WorkflowDefinitionError, match="catchup 'yes' must be True or False"):
        scheduled(catchup="yes").validate(load_settings())
