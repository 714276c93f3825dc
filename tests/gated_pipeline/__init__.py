"""A run that lasts as long as a test wants: `wait_for_gate` polls until the file `gate`
exists (at most `gate_seconds`), then `after_gate` writes `<gate>.done`, or fails on
purpose when `fail` is true."""

from __future__ import annotations

import time
from pathlib import Path

from processing_core import Parameter, TaskBase, Workflow


class WaitForGate(TaskBase):
    def run(self) -> None:
        gate = Path(self.parameters["gate"])
        deadline = time.monotonic() + self.parameters["gate_seconds"]
        while not gate.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{gate} did not appear in {self.parameters['gate_seconds']} s")
            time.sleep(0.2)
        self.outputs = {"gate": str(gate)}


class AfterGate(TaskBase):
    def run(self) -> None:
        if self.parameters["fail"]:
            raise RuntimeError("after_gate failed on purpose")
        done = Path(self.inputs["wait_for_gate"]["gate"] + ".done")
        done.write_text(self.run_id)
        self.outputs = {"done": str(done)}


gated = Workflow(
    input_data="gate",
    output_data="done",
    category="test",
    workflow_package=__package__,
    description="Wait for a gate file, then write beside it.",
    parameters=[
        Parameter("gate", description="File whose appearance lets the run go on."),
        Parameter("gate_seconds", type="integer", default=300, minimum=1),
        Parameter("fail", type="boolean", default=False),
    ],
)
gated.add_node(WaitForGate)
gated.add_node(AfterGate, upstreams=WaitForGate)
