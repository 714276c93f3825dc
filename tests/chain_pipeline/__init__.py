"""A five-step ETL chain for `processing-core run`: extract -> clean -> transform -> load,
with `report` beside `load`. Each task appends its name to `<work>/calls`; `transform` fails
until `<work>/fixed` exists (the bug an author fixes before resuming); `nap` tasks sleep
`nap_seconds` and record when they ran; with `meet_seconds`, `nap_a` and `nap_b` each wait
(that long at most) until the other has started: they succeed only when they run at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

from processing_core import Parameter, TaskBase, Workflow


class Step(TaskBase):
    def record(self) -> Path:
        work = Path(self.parameters["work"])
        with (work / "calls").open("a") as calls:
            calls.write(f"{self.task_id}\n")
        return work


class Extract(Step):
    def run(self) -> None:
        self.record()
        self.outputs = {"rows": self.parameters["rows"]}


class Clean(Step):
    def run(self) -> None:
        self.record()
        self.outputs = {"rows": self.inputs["extract"]["rows"] - 1}


class Transform(Step):
    def run(self) -> None:
        work = self.record()
        if not (work / "fixed").exists():
            raise ValueError("the transform has a bug: divide by the row count of clean")
        self.outputs = {"rows": self.inputs["clean"]["rows"] * 2}


class Load(Step):
    def run(self) -> None:
        self.record()
        self.outputs = {"loaded": self.inputs["transform"]["rows"]}


class Report(Step):
    def run(self) -> None:
        self.record()
        self.message = f"{self.inputs['transform']['rows']} rows transformed"


class Nap(TaskBase):
    def run(self) -> None:
        if self.parameters["meet_seconds"] and self.task_id in ("nap_a", "nap_b"):
            self.meet_the_other()
        started = time.time()
        time.sleep(self.parameters["nap_seconds"])
        record = {"task": self.task_id, "start": started, "end": time.time()}
        with (Path(self.parameters["work"]) / "naps").open("a") as naps:
            naps.write(json.dumps(record) + "\n")

    def meet_the_other(self) -> None:
        """A barrier: proof that both ran at once, whatever the machine's speed."""
        work = Path(self.parameters["work"])
        (work / f"arrived_{self.task_id}").touch()
        other = work / ("arrived_nap_b" if self.task_id == "nap_a" else "arrived_nap_a")
        until = time.monotonic() + self.parameters["meet_seconds"]
        while not other.exists():
            if time.monotonic() > until:
                raise TimeoutError(f"{self.task_id} ran alone: {other.name} never appeared")
            time.sleep(0.05)

    def rollback(self) -> None:
        (Path(self.parameters["work"]) / f"rolled_back_{self.task_id}").touch()


PARAMETERS = [
    Parameter("work", required=True, description="Folder the steps record their calls in."),
    Parameter("rows", type="integer", default=10, minimum=1),
    Parameter("nap_seconds", type="number", default=0.0, minimum=0),
    Parameter("meet_seconds", type="number", default=0.0, minimum=0),
]

etl = Workflow("raw", "table", "etl", version="1.0.0", parameters=PARAMETERS)
etl.add_node(Extract)
etl.add_node(Clean, upstreams=Extract)
etl.add_node(Transform, upstreams=Clean)
etl.add_node(Load, upstreams=Transform)
etl.add_node(Report, upstreams=Transform)

naps = Workflow("raw", "rested", "naps", version="1.0.0", parameters=PARAMETERS)
naps.add_node(Nap, task_id="nap_a")
naps.add_node(Nap, task_id="nap_b")
naps.add_node(Nap, task_id="after", upstreams=["nap_a", "nap_b"])


class Measure(Step):
    """Reports how much of `payload` reached it, and passes on 60,000 characters of it."""

    def run(self) -> None:
        self.record()
        payload = self.parameters["payload"]
        self.outputs = {"characters": len(payload), "part": payload[:60_000]}


class Combine(Step):
    """Receives its upstreams' outputs: together larger than one command-line argument."""

    def run(self) -> None:
        self.record()
        self.outputs = {
            "received": {task: len(result["part"]) for task, result in self.inputs.items()},
            "characters": self.inputs["measure_a"]["characters"],
        }


# Values larger than a command line holds: a payload parameter, and inputs of 3 x 60,000.
payload = Workflow(
    "raw", "measured", "payload", version="1.0.0",
    parameters=[Parameter("work", default=".", description="Folder the steps record calls in."),
                Parameter("payload", default="", description="Any text.")],
)  # fmt: skip
for name in ("measure_a", "measure_b", "measure_c"):
    payload.add_node(Measure, task_id=name)
payload.add_node(Combine, upstreams=["measure_a", "measure_b", "measure_c"])
