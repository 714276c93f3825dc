"""A daily workflow whose tasks record the dates their run gives them (`<work>/dates.jsonl`),
and whose `load` is complete once `<work>/loaded-<date>` exists: for `run --logical-date`,
`--from-date/--to-date` and `--force`. `extract` fails for a date while `<work>/broken-<date>`
exists (the bad day an operator fixes before resuming that day's run)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from processing_core import Parameter, TaskBase, Workflow


class Extract(TaskBase):
    def run(self) -> None:
        day = self.logical_date.date().isoformat() if self.logical_date else "none"
        record = {
            "task": self.task_id,
            "run_id": self.run_id,
            "run_type": self.run_type,
            "logical_date": self.logical_date.isoformat() if self.logical_date else None,
            "start": self.data_interval_start.isoformat() if self.data_interval_start else None,
            "end": self.data_interval_end.isoformat() if self.data_interval_end else None,
        }
        with (Path(self.parameters["work"]) / "dates.jsonl").open("a") as dates:
            dates.write(json.dumps(record) + "\n")
        if (Path(self.parameters["work"]) / f"broken-{day}").exists():
            raise RuntimeError(f"no data for {day}")
        self.outputs = {"day": day}


class Load(TaskBase):
    def marker(self) -> Path:
        return Path(self.parameters["work"]) / f"loaded-{self.inputs['extract']['day']}"

    def complete(self) -> bool:
        return self.marker().exists()

    def run(self) -> None:
        count = int(self.marker().read_text()) if self.marker().exists() else 0
        self.marker().write_text(str(count + 1))
        self.outputs = {"loads": count + 1}


daily = Workflow(
    "raw", "daily", "etl", version="1.0.0", schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    parameters=[Parameter("work", default=".", description="Where the tasks record.")],
)  # fmt: skip
daily.add_node(Extract)
daily.add_node(Load, upstreams=Extract)
