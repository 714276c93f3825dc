"""Per-task overhead of tracing and logging: export on (to a loopback OTLP receiver) and off,
beside a bare run of the same no-op task (its lifecycle alone); prints the ratios.

    python benchmarks/bench_telemetry.py [--tasks 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from noop_task import Noop
from otlp import Receiver

from processing_core.config import load_settings
from processing_core.definition.task import RunContext
from processing_core.events.emit import EventEmitter
from processing_core.runtime.entrypoint import run
from processing_core.runtime.logging import configure_logging
from processing_core.runtime.telemetry import Telemetry
from processing_core.runtime.telemetry_export import ExportingTelemetry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    args = parser.parse_args()
    receiver = Receiver()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    configure_logging("INFO", "json", stream=devnull)  # formatting is part of the cost
    exporting = load_settings(events_enabled=False).model_copy(
        update={
            "otel_exporter_otlp_traces_endpoint": f"{receiver.url}/v1/traces",
            "otel_exporter_otlp_metrics_endpoint": f"{receiver.url}/v1/metrics",
        }
    )
    timings: dict[str, list[float]] = {"bare": [], "telemetry off": [], "export on": []}
    for number in range(args.tasks):  # interleaved, so drift affects all alike
        context = RunContext("bench", "1", "noop", run_id=f"r{number}")
        start = time.perf_counter()
        with Noop(context) as task:
            task()
        timings["bare"].append(time.perf_counter() - start)
        for name in ("telemetry off", "export on"):
            start = time.perf_counter()
            telemetry = (
                ExportingTelemetry(exporting, context)
                if name == "export on"
                else Telemetry(context, None, None)
            )
            run(lambda c=context: (Noop, c), context, None, telemetry=telemetry,
                events=EventEmitter(None))  # fmt: skip
            timings[name].append(time.perf_counter() - start)
    receiver.close()
    medians = {name: statistics.median(values) * 1000 for name, values in timings.items()}
    p99 = {name: sorted(values)[int(0.99 * len(values))] * 1000 for name, values in timings.items()}
    print(f"No-op task, {args.tasks} runs each (ms):")
    for name in timings:
        print(f"  {name:<14} p50 {medians[name]:8.3f}  p99 {p99[name]:8.3f}")
    print(f"  overhead, telemetry off: {medians['telemetry off'] - medians['bare']:.3f} ms "
          f"(ratio {medians['telemetry off'] / medians['bare']:.1f})")  # fmt: skip
    print(f"  overhead, export on:     {medians['export on'] - medians['bare']:.3f} ms "
          f"(ratio {medians['export on'] / medians['bare']:.1f})")  # fmt: skip
    print(f"  spans received: {len(receiver.spans())}")


if __name__ == "__main__":
    main()
