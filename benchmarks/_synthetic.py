"""Synthetic workflows for the benchmarks: layered graphs of no-op task classes."""

from __future__ import annotations

from processing_core import Resources, SecretRef, TaskBase, Workflow


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
