"""A workflow with two short deadlines, 40 s after the run was queued and 40 s after its
logical date, and a run that lasts as long as a test wants: `hold` polls until the file
`gate` exists (at most `gate_seconds`), then fails on purpose when `fail` is true."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from processing_core import Deadline, Parameter, TaskBase, Workflow

DEADLINE = timedelta(seconds=40)


class Hold(TaskBase):
    def run(self) -> None:
        gate = Path(self.parameters["gate"])
        until = time.monotonic() + self.parameters["gate_seconds"]
        while not gate.exists():
            if time.monotonic() > until:
                raise TimeoutError(f"{gate} did not appear in {self.parameters['gate_seconds']} s")
            time.sleep(0.2)
        if self.parameters["fail"]:
            raise RuntimeError("hold failed on purpose")


late = Workflow(
    input_data="gate",
    output_data="late",
    category="test",
    workflow_package=__package__,
    description="Hold until a gate file appears, with deadlines.",
    parameters=[
        Parameter("gate", description="File whose appearance lets the run end."),
        Parameter("gate_seconds", type="integer", default=300, minimum=1),
        Parameter("fail", type="boolean", default=False),
    ],
    deadline=[DEADLINE, Deadline(DEADLINE, since="logical_date")],
)
late.add_node(Hold)
