"""A workflow with a task that reads a secret variable, for `processing-core run`."""

from __future__ import annotations

from sample_tasks import NeedsAToken

from processing_core import Workflow

publish = Workflow(
    "raw", "published", "secret", version="1.0.0", workflow_package="secret_pipeline"
)
publish.add_node(NeedsAToken, task_id="publish")
