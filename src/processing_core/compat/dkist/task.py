"""dkist's TaskBase over processing-core's: its constructor, names and switches."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from processing_core.definition.task import RunContext
from processing_core.definition.task import TaskBase as NativeTaskBase

TRACER_NAME = "processing_core.compat.dkist"


class TaskBase(NativeTaskBase):
    """A dkist task: `TaskBase(recipe_run_id, workflow_name, workflow_version)` in a test or
    a notebook; `run-task` constructs it with the run's context, whose `recipe_run_id`
    parameter (declared by the compat Workflow) it reads.

    `retries` and `retry_delay_seconds` are Airflow's retries. dkist never calls
    `rollback()` on its own: neither does this class unless `rollback_on_failure = True`.
    """

    retries: ClassVar[int] = 0
    retry_delay_seconds: ClassVar[int] = 60
    retry_delay: ClassVar[timedelta] = timedelta(seconds=60)
    rollback_on_failure: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "retry_delay_seconds" in cls.__dict__:
            cls.retry_delay = timedelta(seconds=cls.retry_delay_seconds)

    def __init__(
        self,
        recipe_run_id: int | RunContext,
        workflow_name: str | None = None,
        workflow_version: str | None = None,
    ) -> None:
        if isinstance(recipe_run_id, RunContext):
            context = recipe_run_id
        else:
            context = RunContext(
                workflow_name=workflow_name or "unknown",
                workflow_version=workflow_version or "dev",
                task_id=type(self).__name__,
                parameters={"recipe_run_id": recipe_run_id},
            )
        super().__init__(context)

    @property
    def recipe_run_id(self) -> int:
        return int(self.parameters["recipe_run_id"])

    @property
    def task_name(self) -> str:
        return type(self).__name__

    @property
    def tracer(self) -> Any:
        """An OpenTelemetry tracer: its spans are children of the task's span."""
        from opentelemetry import trace

        return trace.get_tracer(TRACER_NAME)

    @property
    def meter(self) -> Any:
        """An OpenTelemetry meter, exported with the task's telemetry."""
        from opentelemetry import metrics

        return metrics.get_meter(TRACER_NAME)

    def _rollback_once(self, cause: BaseException) -> None:
        if self.rollback_on_failure:
            super()._rollback_once(cause)
