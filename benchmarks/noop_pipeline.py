"""A 20-task no-op workflow for bench_run.py: five layers of four, each task depending on
the whole previous layer (the same shape as the other benchmarks' synthetic workflows)."""

from __future__ import annotations

from benchmarks._synthetic import synthetic_workflow

noop_20 = synthetic_workflow(0, 20)
