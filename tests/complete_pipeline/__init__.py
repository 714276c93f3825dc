"""A workflow whose first task's work may already be done: `produce` is complete when
`<work>/product.json` exists, and `consume` runs with the outputs it recorded either way."""

from __future__ import annotations

import json
from pathlib import Path

from processing_core import Parameter, TaskBase, Workflow


class Produce(TaskBase):
    def product(self) -> Path:
        return Path(self.parameters["work"]) / "product.json"

    def complete(self) -> bool:
        if not self.product().exists():
            return False
        self.outputs = {"product": str(self.product()), "made_now": False}
        self.message = "product.json already made"
        return True

    def run(self) -> None:
        self.product().write_text(json.dumps({"rows": 3}))
        self.outputs = {"product": str(self.product()), "made_now": True}


class Consume(TaskBase):
    def run(self) -> None:
        self.outputs = {"from_produce": dict(self.inputs["produce"])}


class SaysMaybe(TaskBase):
    def complete(self) -> bool:
        return "maybe"  # type: ignore[return-value]

    def run(self) -> None:
        pass


made = Workflow("raw", "product", "complete", version="1.0.0",
                parameters=[Parameter("work", default="work")])  # fmt: skip
made.add_node(Produce)
made.add_node(Consume, upstreams=Produce)
