"""SparkTaskBase: a task whose `run()` gets a ready SparkSession as `self.spark`."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, ClassVar

from processing_core.definition.spark import SparkResources
from processing_core.definition.task import RunContext, TaskBase

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkTaskBase(TaskBase):
    """A task that computes with Spark.

    On Kubernetes it runs as a SparkApplication (the Spark Operator starts the driver and
    executors, sized by `spark_resources` over the SPARK_ON_K8S_* defaults); elsewhere
    `processing-core run-task` gives it a local SparkSession (SPARK_LOCAL_MASTER). The
    session is created on first use of `self.spark` and stopped when the task leaves its
    `with` block, after `post_run()` or after `rollback()`.
    """

    spark_resources: ClassVar[SparkResources] = SparkResources()

    def __init__(self, context: RunContext) -> None:
        super().__init__(context)
        self._spark: SparkSession | None = None

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from processing_core.definition.spark_session import create_spark_session

            self._spark = create_spark_session(
                app_name=f"{self.workflow_name}.{self.task_id}",
                spark_conf=self.spark_resources.spark_conf,
            )
        return self._spark

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, traceback)
        finally:
            # Here rather than in close(): an author's close() need not remember super().
            session, self._spark = self._spark, None
            if session is not None:
                session.stop()
