"""Synthetic workflows for the benchmarks: layered graphs of no-op task classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processing_core import Asset, Parameter, Resources, SecretRef, TaskBase, Volume, Workflow


class Step(TaskBase):
    """A step of a synthetic workflow."""

    resources = Resources(cpu_request="500m", memory_request="1Gi", memory_limit="2Gi")
    secrets = {"TOKEN": SecretRef(secret="archive-credentials", key="token")}

    def run(self) -> None:
        self.outputs = {"ok": True}


def synthetic_workflow(index: int, tasks: int) -> Workflow:
    """`tasks` tasks in layers of up to four; each task depends on the whole previous layer."""
    workflow = Workflow(
        "raw", "calibrated", "bench", f"w{index}", version="1.0.0", workflow_package="benchmarks"
    )
    previous: list[str] = []
    layer: list[str] = []
    for number in range(tasks):
        task_id = f"step_{number}"
        workflow.add_node(Step, upstreams=previous, task_id=task_id)
        layer.append(task_id)
        if len(layer) == 4:
            previous, layer = layer, []
    return workflow


class Split(Step):
    """Lists the elements a mapped step runs over."""

    declared_outputs = ("elements",)

    def run(self) -> None:
        self.outputs = {"elements": list(range(10))}


def fan_out_workflow(index: int, steps: int, *, mapped: bool) -> Workflow:
    """split -> `steps` parallel steps, each mapped over split.elements (or not) -> combine:
    the same graph with and without mapping."""
    workflow = Workflow(
        "raw", "combined", "bench", f"f{index}", version="1.0.0", workflow_package="benchmarks"
    )
    workflow.add_node(Split)
    ids = [f"step_{number}" for number in range(steps)]
    for task_id in ids:
        foreach = "split.elements" if mapped else None
        workflow.add_node(Step, upstreams=Split, task_id=task_id, foreach=foreach)
    workflow.add_node(Step, upstreams=ids, task_id="combine")
    return workflow


# A realistic pipeline for the scale benchmark: what a science team's workflow declares.
PRODUCTS = Asset("s3://bench-products/calibrated", name="bench_calibrated")
RAW = Asset("s3://bench-raw/observations", name="bench_raw")
DAILY = Asset("s3://bench-products/daily/{ds}/{label}", name="bench_daily")
DATA = Volume.from_claim("data", "bench-data", "/data")
PARAMETERS = (
    Parameter("label", default="nightly", description="Names the products of this run."),
    Parameter("data_root", default="", description="Folder shared by the tasks."),
    Parameter("seed", type="integer", default=7, description="Seed of the simulation."),
    Parameter("frame_count", type="integer", default=4, minimum=1, description="Frames to read."),
    Parameter("frame_size", type="integer", default=16, minimum=2, maximum=512),
    Parameter("threshold", type="number", default=50.0, description="Quality limit."),
)


class Read(Step):
    """Reads the frames of an observation."""

    retries = 2


class Calibrate(Step):
    """Calibrates what it read."""

    resources = Resources(cpu_request="1", memory_request="2Gi", memory_limit="4Gi")
    retries = 1
    execution_timeout = timedelta(hours=1)


class Publish(Step):
    """Publishes the products."""

    produces = (PRODUCTS, DAILY)


def realistic_workflow(index: int, tasks: int) -> Workflow:
    """A pipeline of `tasks` tasks (at least 3): read, then layers of up to four calibrations
    each depending on the whole previous layer, then publish. Parameters, a volume, secrets,
    retries, a timeout, assets produced; one workflow in three runs daily, one in three when
    new raw observations arrive, the rest when triggered."""
    schedule: Any = ("0 3 * * *", RAW, None)[index % 3]
    workflow = Workflow(
        "raw", "calibrated", "bench", f"r{index}", version="1.0.0", workflow_package="benchmarks",
        description="A realistic benchmark pipeline.", tags=["bench"], schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC) if index % 3 == 0 else None,
        parameters=PARAMETERS, volumes=[DATA],
    )  # fmt: skip
    workflow.add_node(Read, task_id="read")
    previous, layer = ["read"], []
    for number in range(tasks - 2):
        task_id = f"calibrate_{number}"
        workflow.add_node(Calibrate, upstreams=previous, task_id=task_id)
        layer.append(task_id)
        if len(layer) == 4:
            previous, layer = layer, []
    workflow.add_node(Publish, upstreams=previous + layer, task_id="publish")
    return workflow
