"""A pipeline shaped like DKIST's instrument pipelines, written against dkist's API and
moved by its import alone: workflows with `-` details, per-node resource queues, pip
extras, class-name task ids and a deep graph (17 levels, as the deepest real one). Each task appends its name and recipe run id
to `$DKIST_TEST_OUT/calls`; `Fails` fails when the recipe run id is 13 (without rolling
back, as dkist), `FailsAndRollsBack` too (rolling back: the switch is on)."""

from __future__ import annotations

import os
from pathlib import Path

from processing_core.compat.dkist import ResourceQueue, TaskBase, Workflow


class Recorded(TaskBase):
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


class DarkCalibration(Recorded):
    pass


class GainCalibration(Recorded):
    pass


class ScienceCalibration(Recorded):
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
l0_pipeline.add_node(WriteL1Frame, upstreams=ScienceCalibration)
l0_pipeline.add_node(QualityL1Metrics, upstreams=ScienceCalibration)
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
