"""Sending a task's events from the entrypoint: never fails the task, never loses an event."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from loguru import logger

from processing_core.masking import mask_data

if TYPE_CHECKING:
    from processing_core.config import EventSettings
    from processing_core.events.model import StatusEvent
    from processing_core.events.publisher import EventPublisher


def fallback_outbox() -> str:
    """Where events go when EVENTS_OUTBOX cannot hold them (a file in its place, a full disk)."""
    import tempfile

    return os.path.join(tempfile.gettempdir(), "processing-core-outbox-fallback")


def emitter_for() -> EventEmitter:
    """The run's event emitter. SettingsError names a bad ISB_* (or other event) value: with
    EVENTS_ENABLED false too, when one is set, as `processing-core settings` checks them (a
    mistake shows now, not on the day events are turned on). With events off and none set,
    pydantic's event models are never imported."""
    from processing_core import environment

    off = environment.turned_off("events_enabled")
    if off and not environment.given(*environment.EVENT_VARIABLES):
        return EventEmitter(None)
    from processing_core.config import EventSettings, load
    from processing_core.masking import register_secrets

    settings = load(EventSettings)
    register_secrets(settings.secret_values())
    return EventEmitter(None if off else settings)


class EventEmitter:
    """The events of one task run, over one connection opened on the first event."""

    def __init__(self, settings: EventSettings | None) -> None:
        # None: events are off (EVENTS_ENABLED false), and no event setting was even read.
        self.settings = settings
        self._publisher: EventPublisher | None = None
        # Once the broker failed every attempt, later events of this run go straight to the
        # outbox: an unreachable broker costs a task run its retries once, not at every event.
        self._broker_down = False

    @property
    def enabled(self) -> bool:
        """Whether events are sent (EVENTS_ENABLED): a run without them need not build any."""
        return self.settings is not None and self.settings.events_enabled

    def emit(self, event: StatusEvent) -> bool:
        """Publish `event` (with every secret masked), else keep it; a signal still unwinds.

        True when the broker confirmed it; False when it went to the outbox (or events are off).
        """
        settings = self.settings
        if settings is None or not settings.events_enabled:
            return False
        event = event.model_validate(mask_data(event.model_dump(mode="json")))
        if self._broker_down:
            self._keep(event, settings.events_outbox)
            return False
        try:
            if self._publisher is None:
                from processing_core.events.publisher import EventPublisher

                self._publisher = EventPublisher(settings)
            confirmed = self._publisher.publish(event)
        except Exception as error:  # the task's outcome never depends on the broker
            logger.error("Event {} could not be sent: {}", event.event_id, error)
            self._broker_down = True
            self._keep(event, settings.events_outbox)
            return False
        except BaseException:
            # Interrupted while waiting on the broker (SIGTERM): keep it, then unwind.
            self._broker_down = True
            self._keep(event, settings.events_outbox)
            raise
        self._broker_down = not confirmed
        return confirmed

    def close(self) -> None:
        if self._publisher is not None:
            self._publisher.close()

    @staticmethod
    def _keep(event: StatusEvent, outbox: str) -> None:
        from processing_core.events.outbox import Outbox, OutboxError

        for folder in (outbox, fallback_outbox()):
            try:
                Outbox(folder).put(event.event_id, event.routing_key, event.body())
            except (OutboxError, OSError) as error:
                logger.error("Event {} not kept in {}: {}", event.event_id, folder, error)
                continue
            if folder != outbox:
                logger.error(
                    "Event {} kept in the fallback outbox {}: EVENTS_OUTBOX {} cannot hold "
                    "events; fix it, then deliver both with `EVENTS_OUTBOX={} processing-core "
                    "events flush`",
                    event.event_id, folder, outbox, folder,
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
        "map_index": getattr(context, "map_index", None),
    }
