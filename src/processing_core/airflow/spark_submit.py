"""Airflow side: a Spark task of the `local` target, submitted with spark-submit.

The apache-spark provider's SparkSubmitOperator submits the library's Spark entrypoint to
the master of an Airflow connection (SPARK_CONN_ID) in client mode: the driver runs on the
Airflow worker, runs `processing-core run-task` and writes the task's result to a file this
operator reads back and returns, so it becomes the task's XCom as for every other task.
Imported by generated DAG files with Spark tasks on the local target, and by nothing else.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from importlib.util import find_spec
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

# The driver (and local-mode Python workers) must be an interpreter that has this library
# and the pipeline: the worker's own, unless the connection or the task says otherwise.
_PYTHON_CONF = ("spark.pyspark.driver.python", "spark.pyspark.python")


class SparkSubmitTask(SparkSubmitOperator):
    """SparkSubmitOperator running a processing-core Spark task; returns its result."""

    # What the Airflow UI shows as the operator (airflow.operators).
    custom_operator_name = "spark-submit"

    def __init__(self, *, run_task_arguments: list[str], **kwargs: Any) -> None:
        # Client mode: the driver, and so the result file, stay on this worker.
        kwargs["deploy_mode"] = "client"
        super().__init__(application="", application_args=list(run_task_arguments), **kwargs)

    # The provider returns nothing; the task's result is this operator's XCom.
    def execute(self, context: Any) -> dict[str, Any]:  # type: ignore[override]
        spec = find_spec("processing_core.runtime.spark_main")
        if spec is None or spec.origin is None:  # pragma: no cover - the library is installed
            raise RuntimeError("processing_core.runtime.spark_main is not installed")
        self.application = spec.origin
        python = {key: sys.executable for key in _PYTHON_CONF if "PYSPARK_PYTHON" not in os.environ}
        self.conf = {**python, **(self.conf or {})}
        # The driver's log lines go into Airflow's: human lines, unless the worker asks for JSON.
        self.env_vars = {
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "human"),
            **(self.env_vars or {}),
        }
        descriptor, result_path = tempfile.mkstemp(prefix="processing-core-result-", suffix=".out")
        os.close(descriptor)
        arguments = list(self.application_args or [])
        self.application_args = [*arguments, f"--result-path={result_path}"]
        try:
            try:
                super().execute(context)
            except Exception as error:
                result = _read(result_path)
                if result and result.get("message"):
                    # The task's own words say more than spark-submit's exit code.
                    raise RuntimeError(
                        f"Spark task {self.task_id} {result.get('status', 'failed')}: "
                        f"{result['message']}"
                    ) from error
                raise
            result = _read(result_path)
            if result is None:
                raise RuntimeError(
                    f"Spark task {self.task_id}: spark-submit ended without the task's result; "
                    "see the driver's log above"
                )
            return result
        finally:
            self.application_args = arguments
            os.unlink(result_path)


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError:
        return None
    try:
        value = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
