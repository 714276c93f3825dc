"""The task the entrypoint benchmark runs."""

from processing_core import TaskBase


class Noop(TaskBase):
    def run(self) -> None:
        self.outputs = {"ok": True}
