"""Two workflows joined by an asset: `make_product` updates `test_products` (and, per run,
`test_daily_products` under a URI rendered from the run's date and `label`), and
`products_to_report_assets` runs when `test_products` is updated. Its task writes what it
saw of the triggering asset events to the file the producer named in the event's extra."""

from __future__ import annotations

import json
from pathlib import Path

from processing_core import Asset, Parameter, TaskBase, Workflow

PRODUCTS = Asset("file:///processing-core-test/products", name="test_products")
DAILY = Asset("file:///processing-core-test/daily/{ds}/{label}", name="test_daily_products")


class MakeProduct(TaskBase):
    produces = (PRODUCTS, DAILY)

    def run(self) -> None:
        report = self.parameters["report_to"]
        self.outputs = {"label": self.parameters["label"]}
        self.asset_extra = {
            "test_products": {"rows": 3, "report_to": report, "run_id": self.run_id},
            "test_daily_products": {"label": self.parameters["label"]},
        }


class Report(TaskBase):
    def run(self) -> None:
        seen = [
            {"name": event.name, "uri": event.uri, "extra": dict(event.extra),
             "source_dag_id": event.source_dag_id, "source_task_id": event.source_task_id}
            for event in self.asset_events
        ]  # fmt: skip
        self.outputs = {"events": seen, "run_type": self.run_type}
        for event in self.asset_events:
            target = event.extra.get("report_to")
            if target:
                Path(target).write_text(json.dumps(self.outputs))


producer = Workflow(
    input_data="raw",
    output_data="products",
    category="assets",
    workflow_package=__package__,
    parameters=[
        Parameter("label", default="first"),
        Parameter("report_to", default="", description="Where the consumer writes what it saw."),
    ],
)
producer.add_node(MakeProduct)

consumer = Workflow(
    input_data="products",
    output_data="report",
    category="assets",
    workflow_package=__package__,
    schedule=PRODUCTS,
)
consumer.add_node(Report)
