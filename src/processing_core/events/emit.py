"""Sending a task's events from the entrypoint: never fails the task, never loses an event."""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

from loguru import logger

from processing_core.masking import mask_data

if TYPE_CHECKING:
    from processing_core.config import Settings
    from processing_core.events.model import StatusEvent
    from processing_core.events.publisher import EventPublisher

# Where events go when EVENTS_OUTBOX cannot hold them (a file in its place, a full disk).
FALLBACK_OUTBOX = os.path.join(tempfile.gettempdir(), "processing-core-outbox-fallback")


class EventEmitter:
    """The events of one task run, over one connection opened on the first event."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._publisher: EventPublisher | None = None
        # Once the broker failed every attempt, later events of this run go straight to the
        # outbox: an unreachable broker costs a task run its retries once, not at every event.
        self._broker_down = False

    def emit(self, event: StatusEvent) -> None:
        """Publish `event` (with every secret masked), else keep it; a signal still unwinds."""
        if not self.settings.events_enabled:
            return
        event = event.model_validate(mask_data(event.model_dump(mode="json")))
        if self._broker_down:
            self._keep(event)
            return
        try:
            if self._publisher is None:
                from processing_core.events.publisher import EventPublisher

                self._publisher = EventPublisher(self.settings)
            confirmed = self._publisher.publish(event)
        except Exception as error:  # the task's outcome never depends on the broker
            logger.error("Event {} could not be sent: {}", event.event_id, error)
            self._broker_down = True
            self._keep(event)
        except BaseException:
            # Interrupted while waiting on the broker (SIGTERM): keep it, then unwind.
            self._broker_down = True
            self._keep(event)
            raise
        else:
            self._broker_down = not confirmed

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()

    def _keep(self, event: StatusEvent) -> None:
        from processing_core.events.outbox import Outbox, OutboxError

        for folder in (self.settings.events_outbox, FALLBACK_OUTBOX):
            try:
                Outbox(folder).put(event.event_id, event.routing_key, event.body())
            except (OutboxError, OSError) as error:
                logger.error("Event {} not kept in {}: {}", event.event_id, folder, error)
                continue
            if folder != self.settings.events_outbox:
                logger.error(
                    "Event {} kept in the fallback outbox {}: EVENTS_OUTBOX {} cannot hold "
                    "events; fix it, then deliver both with `EVENTS_OUTBOX={} processing-core "
                    "events flush`",
                    event.event_id, folder, self.settings.events_outbox, folder,
                )  # fmt: skip
            return
        logger.critical("Event {} lost: no outbox can hold it", event.event_id)


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
