"""Pods that end the hard way, for tests/test_kubernetes_e2e.py: each task is independent, so
one `airflow dags test` shows every reason Kubernetes gives for a task that did not succeed.
Installed into the loopback cluster's pipeline image beside the example."""

from __future__ import annotations

import time
from datetime import timedelta

from processing_core import Resources, TaskBase, Workflow


class FailsOnPurpose(TaskBase):
    """Raises: run-task exits non-zero, the container terminates with reason Error."""

    startup_timeout = timedelta(seconds=45)  # an image that never comes fails the try soon

    def run(self) -> None:
        raise RuntimeError("failed on purpose in its pod")


class OverMemoryLimit(TaskBase):
    """Holds far more memory than its limit: the container is OOMKilled (exit code 137)."""

    resources = Resources(memory_request="64Mi", memory_limit="96Mi")

    def run(self) -> None:
        held = []
        for _ in range(64):  # up to 512 MiB, written so that it is resident
            held.append(bytearray(b"x" * (8 * 2**20)))
            time.sleep(0.05)
        self.outputs["held"] = len(held)


class OutlivesItsTimeout(TaskBase):
    """Runs past its execution_timeout: Airflow kills the task, the operator deletes the pod."""

    execution_timeout = timedelta(seconds=10)

    def run(self) -> None:
        time.sleep(600)


class DeletedUnderItsTask(TaskBase):
    """Its first pod is deleted by the test while it runs; the retry's pod finishes."""

    retries = 1
    retry_delay = timedelta(seconds=1)

    def run(self) -> None:
        if self.try_number == 1:
            time.sleep(600)
        self.outputs["try"] = self.try_number


workflow = Workflow(
    input_data="pods",
    output_data="failures",
    category="kubernetes",
    version="1.0.0",
)
workflow.add_node(FailsOnPurpose, task_id="fails")
workflow.add_node(OverMemoryLimit, task_id="over_memory")
workflow.add_node(OutlivesItsTimeout, task_id="outlives_timeout")
workflow.add_node(DeletedUnderItsTask, task_id="deleted_pod")
