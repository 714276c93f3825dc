"""Workflows started by RabbitMQ messages, on queues named at export time by
TEST_MESSAGE_PREFIX (each test session its own): `records` writes what each message asked
for, `bulk` counts the messages it was started by, `held` and `burst` (one run at a time)
wait for the file each message names, `each` makes one run per message, `frames` (one run at
a time, scheduled on the asset `test_frames`) waits for the file each event names, `follows`
runs when
`raw_to_products_assets` succeeded (processing-core's own status events, on the exchange
ISB_EXCHANGE names)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from processing_core import Asset, RabbitMQMessages, TaskBase, Workflow

PREFIX = os.environ.get("TEST_MESSAGE_PREFIX", "processing-core-test")
EVENTS_EXCHANGE = os.environ.get("ISB_EXCHANGE", "processing-core.events")


class Record(TaskBase):
    """Writes each message's `text` to the file its `write_to` names."""

    def run(self) -> None:
        for event in self.asset_events:
            body = event.extra["payload"]["body"]
            Path(body["write_to"]).write_text(
                json.dumps({"text": body["text"], "message_id": event.extra["payload"]["message_id"],
                            "run_type": self.run_type})
            )  # fmt: skip


class Count(TaskBase):
    def run(self) -> None:
        self.outputs = {"messages": len(self.asset_events) + self.context.asset_events_omitted}


FRAMES = Asset("file:///processing-core-test/frames", name="test_frames")


class Hold(TaskBase):
    """Waits (up to ten minutes) until the file each event's `release` names exists: in the
    message body (RabbitMQ) or in the event's extra (an event posted to Airflow's API)."""

    def run(self) -> None:
        for event in self.asset_events:
            extra = event.extra
            release = Path(extra["payload"]["body"]["release"] if "payload" in extra
                           else extra["release"])  # fmt: skip
            deadline = time.monotonic() + 600
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.2)


class Follow(TaskBase):
    def run(self) -> None:
        self.outputs = {
            "followed": [e.extra["payload"]["body"]["run_id"] for e in self.asset_events]
        }


records = Workflow(
    "messages", "records", "test", workflow_package=__package__,
    triggered_by=RabbitMQMessages(queue=f"{PREFIX}.records"),
)  # fmt: skip
records.add_node(Record)

bulk = Workflow(
    "messages", "counts", "test", workflow_package=__package__, max_active_runs=1,
    triggered_by=RabbitMQMessages(queue=f"{PREFIX}.bulk"),
)  # fmt: skip
bulk.add_node(Count)

held = Workflow(
    "messages", "held", "test", workflow_package=__package__, max_active_runs=1,
    triggered_by=RabbitMQMessages(queue=f"{PREFIX}.held"),
)  # fmt: skip
held.add_node(Hold)

burst = Workflow(
    "messages", "burst", "test", workflow_package=__package__, max_active_runs=1,
    triggered_by=RabbitMQMessages(queue=f"{PREFIX}.burst"),
)  # fmt: skip
burst.add_node(Hold)

each = Workflow(
    "messages", "each", "test", workflow_package=__package__,
    triggered_by=RabbitMQMessages(queue=f"{PREFIX}.each", one_run_per_message=True),
)  # fmt: skip
each.add_node(Count)

frames = Workflow(
    "frames", "held", "test", workflow_package=__package__, max_active_runs=1, schedule=FRAMES,
)  # fmt: skip
frames.add_node(Hold)

follows = Workflow(
    "products", "followed", "test", workflow_package=__package__,
    triggered_by=RabbitMQMessages.status_events(
        f"{PREFIX}.follow", workflow="raw_to_products_assets", exchange=EVENTS_EXCHANGE
    ),
)  # fmt: skip
follows.add_node(Follow)
