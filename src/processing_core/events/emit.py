"""Sending a task's events from the entrypoint: never fails the task, never loses an event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from processing_core.config import Settings
    from processing_core.events.model import StatusEvent
    from processing_core.events.publisher import EventPublisher


class EventEmitter:
    """The events of one task run, over one connection opened on the first event."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._publisher: EventPublisher | None = None
        # Once the broker failed every attempt, later events of this run go straight to the
        # outbox: an unreachable broker costs a task its retries once, not at every event.
        self._broker_down = False

    def emit(self, event: StatusEvent) -> None:
        if not self.settings.events_enabled:
            return
        if self._broker_down:
            self._keep(event)
            return
        try:
            if self._publisher is None:
                from processing_core.events.publisher import EventPublisher

                self._publisher = EventPublisher(self.settings)
            self._broker_down = not self._publisher.publish(event)
        except Exception as error:  # the task's outcome never depends on the broker
            logger.error("Event {} could not be sent or kept: {}", event.event_id, error)
            self._keep(event)

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()

    def _keep(self, event: StatusEvent) -> None:
        from processing_core.events.outbox import Outbox

        try:
            Outbox(self.settings.events_outbox).put(event.event_id, event.routing_key, event.body())
        except OSError as error:
            logger.error("Event {} lost: the outbox cannot be written: {}", event.event_id, error)


def traceback_tail(error: BaseException, characters: int = 2000) -> str:
    import traceback

    text = "".join(traceback.format_exception(error)).rstrip()
    return text[-characters:]


def identity(context: Any) -> dict[str, Any]:
    """The event fields of a task's RunContext."""
    return {
        "workflow_name": context.workflow_name,
        "workflow_version": context.workflow_version,
        "dag_id": context.dag_id,
        "run_id": context.run_id,
        "task_id": context.task_id,
        "try_number": context.try_number,
    }
