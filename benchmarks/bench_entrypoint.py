"""Entrypoint cost: `processing-core run-task` of a no-op task beside `python -c` running it.

The reference imports the same task and runs the same lifecycle without the CLI, so the
ratio is what the command line, settings and logging set-up add to every task start (goal:
<= 2.0 with events and tracing off). Both run with bytecode, as in the pipeline image. The
same task is also timed with status events on
(RabbitMQ at ISB_HOST:ISB_PORT, default 127.0.0.1:5672, an exchange and queue of its own,
deleted afterwards) and spans and metrics exported over OTLP/HTTP to a loopback collector
that accepts everything: what a task start costs in production.

    python benchmarks/bench_entrypoint.py [--runs 10]
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDENTITY = ["--workflow-name", "w", "--workflow-version", "1", "--task-id", "noop"]
REFERENCE = (
    "from processing_core import RunContext; from noop_task import Noop; "
    "task = Noop(RunContext('w', '1', 'noop'))\n"
    "with task: task()"
)


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that accepts every export."""

    def do_POST(self) -> None:  # http.server's hook
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True, cwd=HERE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    cli = (
        shutil.which("processing-core", path=str(Path(sys.executable).parent)) or "processing-core"
    )
    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    name = f"bench-entrypoint-{uuid.uuid4().hex[:8]}"
    outbox = tempfile.mkdtemp()
    # As in the pipeline image, where pip compiled the package when it installed it: Python
    # may write bytecode (a machine may forbid it by PYTHONDONTWRITEBYTECODE), and each
    # command runs once untimed first, so neither side compiles its modules while timed.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    quiet = {**environment, "PYTHONPATH": str(HERE), "EVENTS_ENABLED": "false"}
    production = {
        **quiet,
        "EVENTS_ENABLED": "true",
        "ISB_EXCHANGE": name,
        "ISB_QUEUE": name,
        "EVENTS_OUTBOX": outbox,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
    }
    run_task = [cli, "run-task", "noop_task:Noop", *IDENTITY]
    commands = {
        "run-task": (run_task, quiet),
        "python -c": ([sys.executable, "-c", REFERENCE], quiet),
        "run-task, events and tracing on": (run_task, production),
    }
    timings: dict[str, list[float]] = {label: [] for label in commands}
    try:
        for command, env in commands.values():
            seconds(command, env)
        for _ in range(args.runs):  # interleaved
            for label, (command, env) in commands.items():
                timings[label].append(seconds(command, env))
    finally:
        collector.shutdown()
        kept = len(list(Path(outbox).rglob("*.json")))
        shutil.rmtree(outbox, ignore_errors=True)
        _delete_broker_objects(name)
    medians = {label: statistics.median(values) for label, values in timings.items()}
    print(f"No-op task, median of {args.runs} runs:")
    for label, value in medians.items():
        print(f"  {label:<32} {value * 1000:8.1f} ms")
    reference = medians["python -c"]
    print(f"  ratio run-task / python -c: {medians['run-task'] / reference:.2f}  (goal <= 2.0)")
    print(
        "  ratio run-task with events and tracing on / python -c: "
        f"{medians['run-task, events and tracing on'] / reference:.2f}"
    )
    if kept:
        print(f"  ({kept} event(s) went to the outbox: is RabbitMQ running?)")


def _delete_broker_objects(name: str) -> None:
    try:
        import pika

        host = os.environ.get("ISB_HOST", "127.0.0.1")
        port = int(os.environ.get("ISB_PORT", "5672"))
        connection = pika.BlockingConnection(pika.ConnectionParameters(host, port))
    except Exception:
        return  # no broker: nothing was declared
    channel = connection.channel()
    channel.queue_delete(name)
    channel.exchange_delete(name)
    connection.close()


if __name__ == "__main__":
    main()
