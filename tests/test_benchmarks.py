"""The benchmarks still run: each imports (`--help`), and the quick ones run once with tiny
sizes and print their ratio. Nothing here is timed: speed is measured by running them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.slow
BENCHMARKS = sorted(p.name for p in (REPO_ROOT / "benchmarks").glob("bench_*.py"))


def bench(name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / name), *args], cwd=REPO_ROOT,
        env=subprocess_env(**env), capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_imports(name):
    shown = bench(name, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "usage:" in shown.stdout


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("bench_parse.py", ("--files", "2", "--tasks", "3", "--repeat", "1")),
        ("bench_foreach.py", ("--files", "2", "--steps", "2", "--repeat", "1")),
        ("bench_export.py", ("--no-reference", "--workflows", "2")),
        ("bench_telemetry.py", ("--tasks", "3")),
        ("bench_entrypoint.py", ("--runs", "1")),
        ("bench_install_safety.py", ("--repeat", "1", "--bomb-mib", "32")),
    ],
)
def test_the_quick_benchmarks_run_and_print_a_ratio(name, args):
    ran = bench(name, *args)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "ratio" in ran.stdout.lower(), ran.stdout


def test_the_events_benchmark_runs_against_the_broker():
    from rabbitmq import require_rabbitmq

    require_rabbitmq()  # the benchmark makes and removes an exchange and queue of its own
    ran = bench("bench_events.py", "--events", "50", "--rounds", "1", "--tasks", "3")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "ratio EventPublisher / raw" in ran.stdout and "ratio on / off" in ran.stdout
