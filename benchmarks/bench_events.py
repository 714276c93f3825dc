"""Status events on loopback RabbitMQ: confirmed persistent throughput and per-task cost.

1. Throughput: StatusEvents through EventPublisher (model, JSON, confirm per message) beside
   raw pika publishing the same bytes with confirms (the reference), in interleaved rounds,
   while a consumer drains the queue as a service would (a queue that only fills is not
   how a broker runs); one process, and four.
2. Per-task cost: `run_task` of a no-op task with events on beside the same with events off;
   p50 and p99 in ms per task and per event (two events a task).
Targets: >= 5,000 events/s; <= 5 ms p50 per event.

    python benchmarks/bench_events.py [--events 5000] [--rounds 5] [--tasks 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import pika
from loguru import logger

from processing_core.config import load_settings
from processing_core.definition.task import RunContext
from processing_core.events.emit import EventEmitter
from processing_core.events.model import StatusEvent
from processing_core.events.publisher import EventPublisher
from processing_core.runtime.entrypoint import run
from processing_core.runtime.telemetry import Telemetry

THROUGHPUT = """
import sys, time
from processing_core.config import load_settings
from processing_core.events.model import StatusEvent
from processing_core.events.publisher import EventPublisher
count = int(sys.argv[1])
events = [StatusEvent(kind="task.succeeded", source="task", workflow_name="bench",
                      workflow_version="1", run_id=str(i)) for i in range(count)]
with EventPublisher(load_settings()) as publisher:
    publisher.publish(events[0])
    start = time.perf_counter()
    for event in events[1:]:
        publisher.publish(event)
    print(time.perf_counter() - start)
"""


# Consumes the queue until told to stop (a line on its standard input), acknowledging each.
CONSUMER = """
import sys, threading, pika
host, port, queue = sys.argv[1], int(sys.argv[2]), sys.argv[3]
connection = pika.BlockingConnection(pika.ConnectionParameters(host, port))
channel = connection.channel()
channel.basic_qos(prefetch_count=500)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
received = 0
for method, _, _ in channel.consume(queue, inactivity_timeout=0.2):
    if method is not None:
        channel.basic_ack(method.delivery_tag)
        received += 1
    elif stop.is_set():
        break
print(received)
"""


def ours_rate(settings, events: list) -> float:
    with EventPublisher(settings) as publisher:
        publisher.publish(events[0])  # connected, exchange and queue declared
        start = time.perf_counter()
        for event in events[1:]:
            publisher.publish(event)
        return (len(events) - 1) / (time.perf_counter() - start)


def raw_pika_rate(settings, bodies: list[bytes]) -> float:
    host, port = settings.isb_address()
    connection = pika.BlockingConnection(pika.ConnectionParameters(host, port))
    channel = connection.channel()
    channel.confirm_delivery()
    start = time.perf_counter()
    for body in bodies:
        channel.basic_publish(
            settings.isb_exchange, "task.succeeded", body,
            pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                 message_id=str(uuid.uuid4())),
            mandatory=True,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    connection.close()
    return len(bodies) / seconds


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=300)
    args = parser.parse_args()
    logger.remove()
    name = f"bench-{uuid.uuid4().hex[:8]}"
    outbox = tempfile.mkdtemp()
    os.environ.update(
        ISB_EXCHANGE=name, ISB_QUEUE=name, EVENTS_OUTBOX=outbox, EVENTS_ENABLED="true"
    )
    settings = load_settings()
    try:
        events = [
            StatusEvent(kind="task.succeeded", source="task", workflow_name="bench",
                        workflow_version="1", run_id=str(i))
            for i in range(args.events)
        ]  # fmt: skip
        host, port = settings.isb_address()
        ours_rate(settings, events[:2])  # declares the exchange and queue
        consumer = subprocess.Popen(
            [sys.executable, "-c", CONSUMER, host, str(port), name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        rates: dict[str, list[float]] = {"ours": [], "raw": []}
        bodies = [e.body() for e in events]
        for _ in range(args.rounds):  # interleaved
            rates["ours"].append(ours_rate(settings, events))
            rates["raw"].append(raw_pika_rate(settings, bodies))
        ours, raw = (statistics.median(rates[side]) for side in ("ours", "raw"))
        per_worker = args.events // 4
        workers = [
            subprocess.Popen([sys.executable, "-c", THROUGHPUT, str(per_worker)],
                             stdout=subprocess.PIPE, text=True)
            for _ in range(4)
        ]  # fmt: skip
        start = time.perf_counter()
        outputs = [worker.communicate()[0] for worker in workers]
        wall = time.perf_counter() - start
        slowest = max(float(out.strip().splitlines()[-1]) for out in outputs)
        four = 4 * (per_worker - 1) / slowest
        consumed = int(consumer.communicate("stop\n", timeout=120)[0].strip() or 0)
        print(f"Confirmed persistent events on loopback, a consumer draining the queue "
              f"({args.events} events a round, median of {args.rounds} interleaved rounds; "
              f"{consumed} consumed):")  # fmt: skip
        print(f"  EventPublisher, 1 process    {ours:9.0f} events/s")
        print(f"  raw pika, 1 process          {raw:9.0f} events/s")
        print(f"  ratio EventPublisher / raw   {ours / raw:9.2f}")
        print(f"  EventPublisher, 4 processes  {four:9.0f} events/s (target >= 5,000)")
        print(f"  (4 processes: {wall:.1f} s wall, with their start-up)")

        noop = __import__("noop_task").Noop
        timings: dict[bool, list[float]] = {True: [], False: []}
        for number in range(args.tasks):  # interleaved
            for enabled in (True, False):
                task_settings = settings.model_copy(update={"events_enabled": enabled})
                context = RunContext("bench", "1", "noop", run_id=f"r{number}")
                start = time.perf_counter()
                run(
                    lambda c=context: (noop, c), context, None,
                    telemetry=Telemetry(context, None, None), events=EventEmitter(task_settings),
                )  # fmt: skip
                timings[enabled].append((time.perf_counter() - start) * 1000)
        on, off = timings[True], timings[False]
        print(f"Per task, {args.tasks} runs of a no-op task (ms):")
        print(f"  events off   p50 {percentile(off, 0.5):7.2f}  p99 {percentile(off, 0.99):7.2f}")
        print(f"  events on    p50 {percentile(on, 0.5):7.2f}  p99 {percentile(on, 0.99):7.2f}")
        extra = [a - b for a, b in zip(sorted(on), sorted(off), strict=True)]
        p50, p99 = statistics.median(extra) / 2, percentile(extra, 0.99) / 2
        print(f"  per event    p50 {p50:7.2f}  p99 {p99:7.2f}  (target p50 <= 5 ms)")
        print("  (a task sends 2 events over 1 connection, opened for its first event)")
        print(f"  ratio on / off (p50): {percentile(on, 0.5) / percentile(off, 0.5):.2f}")
    finally:
        connection = pika.BlockingConnection(pika.ConnectionParameters(*settings.isb_address()))
        channel = connection.channel()
        channel.queue_delete(name)
        channel.exchange_delete(name)
        connection.close()


if __name__ == "__main__":
    main()
