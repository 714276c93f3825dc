"""Fan-out and fan-in: `split` lists frames, `process_frame` runs once per frame (foreach),
`combine` gets the instances' results in map order.

Parameters: `count` frames; `work`, a folder where each instance records its run; an instance
whose frame is `fail_frame` fails until `<work>/fixed` exists (the bug an author fixes
before resuming). `shape` makes split's output something else than a list of `count`
frames: "not_a_list", "missing" or "too_long" (more than max_map_length).
"""

from __future__ import annotations

import json
from pathlib import Path

from processing_core import Parameter, TaskBase, Workflow
from processing_core.definition.spark_task import SparkTaskBase

MAX_FRAMES = 8


class Split(TaskBase):
    """List the frames of an observation."""

    declared_outputs = ("frames",)

    def run(self) -> None:
        count, shape = self.parameters["count"], self.parameters["shape"]
        frames = [{"file": f"frame_{i:03d}.fits", "value": i + 1} for i in range(count)]
        if shape == "not_a_list":
            self.outputs = {"frames": {"file": "frame_000.fits"}}
        elif shape == "missing":
            self.outputs = {"frame_list": frames}
        elif shape == "too_long":
            self.outputs = {"frames": frames * MAX_FRAMES}
        else:
            self.outputs = {"frames": frames}


class ProcessFrame(TaskBase):
    """Process one frame."""

    def run(self) -> None:
        work = Path(self.parameters["work"])
        frame = self.item
        with (work / "calls").open("a") as calls:
            calls.write(json.dumps({"map_index": self.map_index, "file": frame["file"]}) + "\n")
        if frame["file"] == self.parameters["fail_frame"] and not (work / "fixed").exists():
            raise ValueError(f"cannot read {frame['file']}")
        self.outputs = {
            "file": frame["file"],
            "doubled": frame["value"] * 2,
            "map_index": self.map_index,
        }


class Combine(TaskBase):
    """Combine the processed frames."""

    def run(self) -> None:
        processed = self.inputs["process_frame"]
        self.outputs = {
            "files": [result["file"] for result in processed],
            "total": sum(result["doubled"] for result in processed),
            "indexes": [result["map_index"] for result in processed],
        }


class SparkFrame(SparkTaskBase):
    """Process one frame with Spark."""

    def run(self) -> None:
        self.outputs = {"rows": self.spark.range(self.item["value"]).count()}


PARAMETERS = (
    Parameter("count", type="integer", default=5, minimum=0),
    Parameter("work", default="/tmp"),
    Parameter("fail_frame", default=""),
    Parameter("shape", default="list"),
)

frames = Workflow(
    "raw",
    "combined",
    "frames",
    version="1.0.0",
    parameters=PARAMETERS,
    max_map_length=MAX_FRAMES,
)
frames.add_node(Split)
frames.add_node(
    ProcessFrame, upstreams=Split, foreach="split.frames", map_index_template="{{ item.file }}"
)
frames.add_node(Combine, upstreams=ProcessFrame)

spark_frames = Workflow("raw", "rows", "frames", version="1.0.0", parameters=PARAMETERS)
spark_frames.add_node(Split)
spark_frames.add_node(SparkFrame, upstreams=Split, foreach="split.frames")
spark_frames.add_node(Combine, upstreams=[SparkFrame, Split], task_id="count_rows")
