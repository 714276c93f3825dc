"""A pod task that outlives its worker, for the durable tests of tests/test_kubernetes_e2e.py
(installed into the loopback cluster's pipeline image beside the example)."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from processing_core import TaskBase, Volume, Workflow

# The test releases a run's task by writing `<run id>` here, once it has seen what it
# checks (the worker killed, the next try following the pod): no race with a sleep.
RELEASES = Volume.from_claim("releases", "durable-releases", "/releases")


def release_name(run_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in run_id)


class OutlivesItsWorker(TaskBase):
    """Runs until the test releases it, so that the test can kill the Airflow worker."""

    retries = 1
    retry_delay = timedelta(seconds=8)  # time for the test to swap the pod under the store
    volumes = (RELEASES,)

    def run(self) -> None:
        release = RELEASES.folder(release_name(self.run_id))
        deadline = time.monotonic() + 300
        while not release.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not released within 300 s: {release}")
            time.sleep(0.1)
        self.outputs = {"pod": os.environ.get("POD_NAME", ""), "try": self.try_number}


workflow = Workflow(
    input_data="pods", output_data="durable", category="kubernetes", version="1.0.0"
)
workflow.add_node(OutlivesItsWorker, task_id="outlives_worker")
