"""`processing-core events tail`: print live events for people."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pika
from pydantic import ValidationError
from rich.console import Console

from processing_core.events.model import StatusEvent

if TYPE_CHECKING:
    from processing_core.config import EventSettings

_STYLE = {
    "task.started": "cyan",
    "task.succeeded": "green",
    "task.skipped": "cyan",
    "task.failed": "bold red",
    "task.retrying": "yellow",
}


def format_event(event: StatusEvent) -> str:
    """One line: time, kind, workflow and version, run, task and try, then the gist."""
    where = f"{event.workflow_name} {event.workflow_version} {event.run_id}"
    if event.task_id:
        # An instance of a mapped task reads `task[3]#1`, as its log lines do.
        instance = f"[{event.map_index}]" if event.map_index is not None else ""
        where += f" {event.task_id}{instance}#{event.try_number}"
    gist = ""
    if event.error is not None:
        gist = f" {event.error.type}: {event.error.message}"
    elif event.outputs:
        gist = f" outputs: {', '.join(sorted(event.outputs))}"
    return f"{event.time:%H:%M:%S} {event.kind.value:<15} {where}{gist}"


def tail_events(
    settings: EventSettings,
    *,
    workflow: str | None,
    run_id: str | None,
    count: int | None,
    timeout: float | None,
    as_json: bool,
) -> int:
    """Consume from a private, auto-deleted queue; return how many events were printed."""
    console = Console(highlight=False, soft_wrap=True)
    # Notes for people go to standard error: standard output carries only events (--json).
    notes = Console(stderr=True, highlight=False, soft_wrap=True)
    host, port = settings.isb_address()
    credentials = pika.PlainCredentials(
        settings.isb_username, settings.isb_password.get_secret_value()
    )
    timeout_seconds = settings.isb_timeout_seconds
    connection = pika.BlockingConnection(
        pika.ConnectionParameters(
            host=host,
            port=port,
            credentials=credentials,
            connection_attempts=1,
            socket_timeout=timeout_seconds,
            stack_timeout=timeout_seconds,
        )
    )
    printed = 0
    try:
        channel = connection.channel()
        channel.exchange_declare(settings.isb_exchange, exchange_type="topic", durable=True)
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, settings.isb_exchange, routing_key="#")
        notes.print(f"[dim]Following {settings.isb_exchange} on {host}:{port}[/dim]", style=None)
        for _method, properties, body in channel.consume(
            queue, auto_ack=True, inactivity_timeout=timeout
        ):
            if body is None:  # idle for `timeout` seconds
                break
            try:
                event = StatusEvent.model_validate_json(body)
            except ValidationError as error:
                notes.print(
                    "Skipped a message that is not a status event "
                    f"(message_id {properties.message_id!r}, {error.error_count()} problem(s))",
                    style="yellow",
                    markup=False,
                )
                continue
            if (workflow and event.workflow_name != workflow) or (
                run_id and event.run_id != run_id
            ):
                continue
            if as_json:
                print(json.dumps(json.loads(body), sort_keys=True), flush=True)
            else:
                # markup=False: event text comes from the bus; "[...]" in it stays text.
                console.print(format_event(event), style=_STYLE.get(event.kind.value), markup=False)
            printed += 1
            if count is not None and printed >= count:
                break
    finally:
        connection.close()
    return printed
