"""Which tasks of a workflow a local run runs: all of them, what did not finish last time
(and what depends on it), a task and its downstream (`--from`), or named tasks (`--only`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from graphlib import TopologicalSorter

from processing_core.errors import LocalRunError

Edges = Mapping[str, Sequence[str]]  # task id -> its upstream task ids


def downstream_of(edges: Edges, start: Collection[str]) -> set[str]:
    """`start` and every task that depends on one of them, however indirectly."""
    found = set(start)
    changed = True
    while changed:
        changed = False
        for task_id, upstreams in edges.items():
            if task_id not in found and found.intersection(upstreams):
                found.add(task_id)
                changed = True
    return found


def tasks_to_run(
    edges: Edges,
    finished: Collection[str],
    *,
    from_task: str | None = None,
    only: Sequence[str] = (),
) -> list[str]:
    """The tasks to run, in dependency order.

    `finished`: tasks of the resumed run whose results are reused (none for a new run). Every
    task that runs needs each upstream to run too or to have finished; LocalRunError names
    the gap and the fix.
    """
    unknown = [task for task in (*only, *([from_task] if from_task else [])) if task not in edges]
    if unknown:
        raise LocalRunError(
            f"no task {unknown[0]!r} in this workflow; its tasks are {sorted(edges)}"
        )
    if only:
        chosen = set(only)
    elif from_task is not None:
        chosen = downstream_of(edges, [from_task])
    else:
        chosen = downstream_of(edges, [task for task in edges if task not in finished])
    for task_id in sorted(chosen):
        missing = [u for u in edges[task_id] if u not in chosen and u not in finished]
        if missing:
            raise LocalRunError(
                f"task {task_id!r} needs the results of {missing}, which this run neither runs "
                "nor has: run them too, or --resume the folder of a run where they succeeded"
            )
    order = TopologicalSorter({task: tuple(edges[task]) for task in edges}).static_order()
    return [task_id for task_id in order if task_id in chosen]
