"""Publishing status events to RabbitMQ with confirms; the outbox keeps what is not confirmed."""

from __future__ import annotations

import contextlib
import random
import time
from types import TracebackType
from typing import TYPE_CHECKING, Self

import pika
from loguru import logger
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from processing_core.events.outbox import Outbox

if TYPE_CHECKING:
    from processing_core.config import Settings
    from processing_core.events.model import StatusEvent

# Where publishing can fail: the socket, the connection or channel, a nack or a return.
PUBLISH_ERRORS = (AMQPError, OSError)


class EventPublisher:
    """One connection to the interservice bus; a context manager that closes it.

    `publish` never raises: after RETRY_CONFIG's attempts the event goes to the outbox, and
    the outbox is delivered, oldest first, on the next connection that succeeds.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outbox = Outbox(settings.events_outbox)
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def publish(self, event: StatusEvent) -> bool:
        """True when the broker confirmed the event; False when it went to the outbox."""
        return self.publish_body(event.event_id, event.routing_key, event.body())

    def publish_body(self, event_id: str, routing_key: str, body: bytes) -> bool:
        retry = self.settings.retry_config
        for attempt, delay in enumerate([0.0, *retry.delays()]):
            if delay or attempt:
                time.sleep(delay + random.uniform(0, retry.jitter_seconds))
            try:
                self._send(self._connected_channel(), event_id, routing_key, body)
            except PUBLISH_ERRORS as error:
                logger.warning(
                    "Event {} not confirmed (attempt {} of {}): {}",
                    event_id, attempt + 1, retry.attempts, _describe(error),
                )  # fmt: skip
                self.close()
            else:
                return True
        self.outbox.put(event_id, routing_key, body)
        logger.warning("Event {} kept in the outbox {}", event_id, self.outbox.folder)
        return False

    def flush(self) -> int:
        """Deliver the outbox (each event confirmed before its file goes); the count delivered.

        Stops at the first event the broker does not take, keeping it and the rest.
        """
        try:
            return self._deliver_outbox(self._connected_channel(deliver_outbox=False))
        except PUBLISH_ERRORS as error:
            logger.warning("Outbox not delivered: {}", _describe(error))
            self.close()
            return 0

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(*PUBLISH_ERRORS):  # closing a broken connection
                connection.close()

    # -- internals ----------------------------------------------------------------------------
    def _connected_channel(self, deliver_outbox: bool = True) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        settings = self.settings
        host, port = settings.isb_address()
        parameters = pika.ConnectionParameters(
            host=host,
            port=port,
            credentials=pika.PlainCredentials(
                settings.isb_username, settings.isb_password.get_secret_value()
            ),
            connection_attempts=1,
            socket_timeout=5,
            blocked_connection_timeout=30,
        )
        self._connection = pika.BlockingConnection(parameters)
        channel = self._connection.channel()
        channel.confirm_delivery()
        channel.exchange_declare(settings.isb_exchange, exchange_type="topic", durable=True)
        channel.queue_declare(
            settings.isb_queue, durable=True, arguments={"x-queue-type": settings.isb_queue_type}
        )
        channel.queue_bind(settings.isb_queue, settings.isb_exchange, routing_key="#")
        self._channel = channel
        if deliver_outbox and len(self.outbox):
            # Older events first: the ones that could not be delivered before.
            self._deliver_outbox(channel)
        return channel

    def _deliver_outbox(self, channel: BlockingChannel) -> int:
        delivered = 0
        for path, event_id, routing_key, body in self.outbox.pending():
            self._send(channel, event_id, routing_key, body)
            path.unlink(missing_ok=True)
            delivered += 1
        if delivered:
            logger.info("Delivered {} event(s) from the outbox", delivered)
        return delivered

    def _send(self, channel: BlockingChannel, event_id: str, routing_key: str, body: bytes) -> None:
        # Confirm mode: returns once the broker has taken the message; raises NackError if it
        # refused it and UnroutableError if no queue is bound (mandatory).
        channel.basic_publish(
            exchange=self.settings.isb_exchange,
            routing_key=routing_key,
            body=body,
            properties=pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=event_id,
                type=routing_key,
            ),
            mandatory=True,
        )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
