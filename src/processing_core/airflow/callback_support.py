"""What Airflow-side callbacks share: publishing a status event from one of Airflow's
processes (a worker, the dag-processor, the triggerer), and importing a team's own callback
by the `package.module:function` a setting names. Standard library only at import."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

# The callbacks' logger: one name for what operators grep in task and triggerer logs.
_log = logging.getLogger("processing_core.airflow.callbacks")


def publish_event(make_event: Callable[[], Any]) -> str | None:
    """Publish the status event `make_event()` builds, from one of Airflow's processes (a
    worker, the dag-processor, the triggerer), or keep it in the outbox; the event id, or
    None when events are off. Reads only what events need: no other setting can silence a
    callback."""
    from processing_core.config import EventSettings, load

    settings = load(EventSettings)
    if not settings.events_enabled:
        return None
    from processing_core.masking import register_secrets

    # The process's own secrets (ISB_PASSWORD, ...) stay out of the event's error text.
    register_secrets(settings.secret_values())
    from processing_core.events.emit import EventEmitter

    event = make_event()
    # pika narrates every connection at INFO into the task's (or dag-processor's) log;
    # one line of ours says what happened instead.
    logging.getLogger("pika").setLevel(logging.WARNING)
    emitter = EventEmitter(settings)
    try:
        sent = emitter.emit(event)
    finally:
        emitter.close()
    if sent:
        _log.info("processing-core published event %s (%s)", event.kind, event.event_id)
    else:
        _log.warning(
            "processing-core kept event %s (%s) in the outbox %s: RabbitMQ did not take it",
            event.kind, event.event_id, settings.events_outbox,
        )  # fmt: skip
    return str(event.event_id)


def import_target(target: str) -> Callable[..., Any]:
    """The function a team's callback setting names, `package.module:function`."""
    import importlib

    module, _, attribute = target.partition(":")
    function = getattr(importlib.import_module(module), attribute)
    if not callable(function):
        raise TypeError(f"{target} is not a function")
    return function
