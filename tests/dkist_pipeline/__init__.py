"""A pipeline shaped like DKIST's instrument pipelines, written against dkist's API and
moved by its import alone: workflows with `-` details, per-node resource queues (every one
dkist-processing-core 7.5 has), pip extras, class-name task ids, a deep graph (17 levels, as
the deepest real one), and tasks on a base class shaped like dkist-processing-common's
(its own `__init__`, counters, a gauge, spans). Each task appends its name and recipe run id
to `$DKIST_TEST_OUT/calls`; `Fails` fails when the recipe run id is 13 (without rolling
back, as dkist), `FailsAndRollsBack` too (rolling back: the switch is on)."""

from __future__ import annotations

import os
from pathlib import Path

from processing_core.compat.dkist import ResourceQueue, TaskBase, Workflow


class WorkflowTaskBase(TaskBase):
    """As dkist-processing-common's: an `__init__` of its own with dkist's three arguments,
    calling TaskBase's by keyword, then counters and a gauge on `self.meter` named by
    `format_metric_name` and observed with `base_telemetry_attributes`, and spans it sets a
    status on."""

    def __init__(self, recipe_run_id: int, workflow_name: str, workflow_version: str):
        super().__init__(
            recipe_run_id=recipe_run_id,
            workflow_name=workflow_name,
            workflow_version=workflow_version,
        )
        self.scratch = f"scratch/{recipe_run_id}/{self.task_name}"
        self.read_counter = self.meter.create_counter(
            name=self.format_metric_name("tasks.reads"), unit="1", description="Reads."
        )
        self.progress = 0.0
        self.outer_loop_progress_gauge = self.meter.create_observable_gauge(
            name=self.format_metric_name("tasks.outer.loop.progress"),
            description="The progress of a task through its main loop.",
            callbacks=[lambda options: self.outer_loop_run_progress(options)],
        )

    def outer_loop_run_progress(self, options):
        from opentelemetry.metrics import Observation

        yield Observation(self.progress, attributes=self.base_telemetry_attributes)

    def pre_run(self) -> None:
        from opentelemetry.trace import StatusCode

        super().pre_run()
        with self.telemetry_span("Record Provenance") as span:
            span.set_status(StatusCode.OK)
        self.read_counter.add(amount=1, attributes=self.base_telemetry_attributes)

    def post_run(self) -> None:
        super().post_run()
        self.progress = 100.0


class InstrumentParameters:
    """An instrument's own parameters, as DKIST's science tasks keep them."""

    def __init__(self, scratch: str, wavelength: float) -> None:
        self.scratch, self.wavelength = scratch, wavelength


class InstrumentTaskBase(WorkflowTaskBase):
    """As an instrument's base task (VbiTaskBase, VispTaskBase...): its own `__init__`,
    which sets `self.parameters` to the instrument's parameters (dkist-processing-core
    leaves the name free)."""

    def __init__(self, recipe_run_id: int, workflow_name: str, workflow_version: str):
        super().__init__(
            recipe_run_id=recipe_run_id,
            workflow_name=workflow_name,
            workflow_version=workflow_version,
        )
        self.parameters = InstrumentParameters(scratch=self.scratch, wavelength=854.2)


class Recorded(WorkflowTaskBase):
    def record(self, what: str = "") -> None:
        folder = Path(os.environ.get("DKIST_TEST_OUT", "."))
        with (folder / "calls").open("a") as calls:
            calls.write(f"{self.task_name}{what} {self.recipe_run_id}\n")

    def run(self) -> None:
        self.record()

    def rollback(self) -> None:
        self.record(":rollback")


class TransferL0Data(Recorded):
    retries = 2
    retry_delay_seconds = 5


class ParseL0InputData(Recorded):
    pass


class DarkCalibration(InstrumentTaskBase, Recorded):
    pass


class GainCalibration(InstrumentTaskBase, Recorded):
    pass


class ScienceCalibration(InstrumentTaskBase, Recorded):
    pass


class WriteL1Frame(Recorded):
    pass


class QualityL1Metrics(Recorded):
    pass


class SubmitDatasetMetadata(Recorded):
    pass


class Fails(Recorded):
    def run(self) -> None:
        self.record()
        if self.recipe_run_id == 13:
            raise RuntimeError("recipe run 13 fails on purpose")


class FailsAndRollsBack(Fails):
    rollback_on_failure = True


l0_pipeline = Workflow(
    input_data="l0", output_data="l1", category="vbi", detail="summit-calibrated",
    workflow_package=__package__, tags=["vbi"],
)  # fmt: skip
l0_pipeline.add_node(TransferL0Data, upstreams=None)
l0_pipeline.add_node(ParseL0InputData, upstreams=TransferL0Data)
l0_pipeline.add_node(DarkCalibration, upstreams=ParseL0InputData)
l0_pipeline.add_node(GainCalibration, upstreams=DarkCalibration,
                     resource_queue=ResourceQueue.HIGH_MEMORY)  # fmt: skip
l0_pipeline.add_node(ScienceCalibration, upstreams=GainCalibration,
                     resource_queue=ResourceQueue.HIGH_MEMORY, pip_extras=["inventory"])  # fmt: skip
l0_pipeline.add_node(WriteL1Frame, upstreams=ScienceCalibration,
                     resource_queue=ResourceQueue.MULTI_CORE)  # fmt: skip
l0_pipeline.add_node(
    QualityL1Metrics, upstreams=ScienceCalibration, resource_queue=ResourceQueue.GPU
)  # every queue member dkist 7.5 has
l0_pipeline.add_node(SubmitDatasetMetadata, upstreams=[WriteL1Frame, QualityL1Metrics])

failing = Workflow(
    input_data="l0", output_data="l1", category="vbi", detail="failure-test",
    workflow_package=__package__,
)  # fmt: skip
failing.add_node(TransferL0Data)
failing.add_node(Fails, upstreams=TransferL0Data)
failing.add_node(FailsAndRollsBack, upstreams=TransferL0Data)


# 17 levels deep: Level01 -> ... -> Level17, each its own module-level class (task ids are
# class names), every fourth on the high-memory queue.
LEVELS = [
    type(f"Level{level:02d}", (Recorded,), {"__module__": __name__}) for level in range(1, 18)
]
globals().update({task.__name__: task for task in LEVELS})
deep = Workflow(
    input_data="l0", output_data="l1", category="vbi", detail="deep-chain",
    workflow_package=__package__,
)  # fmt: skip
for previous, task in zip([None, *LEVELS], LEVELS, strict=False):
    deep.add_node(task, upstreams=previous,
                  resource_queue=ResourceQueue.HIGH_MEMORY if int(task.__name__[-2:]) % 4 == 0
                  else None)  # fmt: skip
