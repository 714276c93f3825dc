"""A pod task that outlives its worker, for the durable tests of tests/test_kubernetes_e2e.py
(installed into the loopback cluster's pipeline image beside the example)."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from processing_core import TaskBase, Workflow


class OutlivesItsWorker(TaskBase):
    """Runs long enough for the test to kill the Airflow worker following its pod."""

    retries = 1
    retry_delay = timedelta(seconds=8)  # time for the test to swap the pod under the store

    def run(self) -> None:
        time.sleep(15)
        self.outputs = {"pod": os.environ.get("POD_NAME", ""), "try": self.try_number}


workflow = Workflow(
    input_data="pods", output_data="durable", category="kubernetes", version="1.0.0"
)
workflow.add_node(OutlivesItsWorker, task_id="outlives_worker")
