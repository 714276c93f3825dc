"""Publishing status events to RabbitMQ with confirms; the outbox keeps what is not confirmed."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

import pika
from loguru import logger
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from processing_core.events.deadline import BrokerTimeout, deadline
from processing_core.events.outbox import Outbox
from processing_core.retry import retrying

if TYPE_CHECKING:
    from processing_core.config import EventSettings
    from processing_core.events.model import StatusEvent

# Where publishing can fail: the socket, the connection or channel, a nack or a return.
PUBLISH_ERRORS = (AMQPError, OSError, BrokerTimeout)


@dataclass
class FlushReport:
    """What a delivery of the outbox did; true counts even when it was cut short."""

    delivered: int = 0
    kept: int = 0
    quarantined: int = 0
    error: str | None = None


class EventPublisher:
    """One connection to the interservice bus; a context manager that closes it.

    `publish` never raises for the broker's sake: after RETRY_CONFIG's attempts the event
    goes to the outbox, delivered, oldest first, on the next connection that succeeds. A
    broker that does not answer within ISB_TIMEOUT_SECONDS is not tried again by this
    publisher (a stalled broker would cost every attempt the whole timeout).
    """

    def __init__(self, settings: EventSettings) -> None:
        self.settings = settings
        self.outbox = Outbox(settings.events_outbox)
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self.stalled = False

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
        attempts = self.settings.retry_config.attempts

        def attempt_once(number: int) -> None:
            try:
                self._send(self._connected_channel(), event_id, routing_key, body)
            except PUBLISH_ERRORS as error:
                logger.warning(
                    "Event {} not confirmed (attempt {} of {}): {}",
                    event_id, number, attempts, describe(error),
                )  # fmt: skip
                self._abandon()
                raise

        try:
            if self.stalled:
                raise BrokerTimeout("the broker stalled earlier in this run")
            failed: BaseException | None = None
            try:
                # The first attempt without the retry machinery: the common case, every event.
                attempt_once(1)
            except PUBLISH_ERRORS as error:
                if isinstance(error, BrokerTimeout) or attempts == 1:
                    raise
                failed = error
            if failed is not None:
                for attempt in retrying(
                    self.settings.retry_config,
                    retry_if=lambda error: (
                        isinstance(error, PUBLISH_ERRORS) and not isinstance(error, BrokerTimeout)
                    ),
                ):
                    with attempt:
                        if failed is not None:  # attempt 1, made above: counted, then waited on
                            earlier, failed = failed, None
                            raise earlier
                        attempt_once(attempt.retry_state.attempt_number)
        except PUBLISH_ERRORS as error:
            self.stalled = self.stalled or isinstance(error, BrokerTimeout)
            self._abandon()
            self.outbox.put(event_id, routing_key, body)
            logger.warning("Event {} kept in the outbox {}", event_id, self.outbox.folder)
            return False
        except BaseException:
            # Interrupted (SIGTERM while waiting on the broker): the caller keeps the event.
            self._abandon()
            raise
        return True

    def flush(self) -> FlushReport:
        """Deliver the whole outbox (each event confirmed before its file goes).

        Waits for another delivery to finish first. Stops at the first event the broker does
        not take, keeping it and the rest; the report counts what really happened.
        """
        report = FlushReport()
        try:
            with self.outbox.lock(wait=True):
                self._deliver_outbox(self._connected_channel(deliver_outbox=False), report)
        except PUBLISH_ERRORS as error:
            report.error = describe(error)
            logger.warning("Outbox not fully delivered: {}", report.error)
            self._abandon()
        report.quarantined = self.outbox.quarantined
        report.kept = len(self.outbox)
        return report

    def close(self) -> None:
        """Close the connection, waiting at most ISB_TIMEOUT_SECONDS for the broker."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open and not self.stalled:
            with (
                contextlib.suppress(*PUBLISH_ERRORS),
                deadline(self.settings.isb_timeout_seconds, "closing the connection"),
            ):
                connection.close()

    # -- internals ----------------------------------------------------------------------------
    def _abandon(self) -> None:
        # After a failure the connection is broken or stalled: a polite close could wait
        # without end. Drop it; the socket closes with the object.
        self._connection, self._channel = None, None

    def _connected_channel(self, deliver_outbox: bool = True) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        settings = self.settings
        host, port = settings.isb_address()
        timeout = settings.isb_timeout_seconds
        parameters = pika.ConnectionParameters(
            host=host,
            port=port,
            credentials=pika.PlainCredentials(
                settings.isb_username, settings.isb_password.get_secret_value()
            ),
            connection_attempts=1,
            socket_timeout=timeout,
            stack_timeout=timeout,
            blocked_connection_timeout=timeout,
        )
        with deadline(timeout, f"connecting to {host}:{port}"):
            self._connection = pika.BlockingConnection(parameters)
            channel = self._connection.channel()
            channel.confirm_delivery()
            channel.exchange_declare(settings.isb_exchange, exchange_type="topic", durable=True)
            channel.queue_declare(
                settings.isb_queue,
                durable=True,
                arguments={"x-queue-type": settings.isb_queue_type},
            )
            channel.queue_bind(settings.isb_queue, settings.isb_exchange, routing_key="#")
        self._channel = channel
        if deliver_outbox and len(self.outbox):
            # Older events first: the ones that could not be delivered before. If another
            # process is delivering them already, leave them to it.
            with self.outbox.lock(wait=False) as held:
                if held:
                    self._deliver_outbox(channel, FlushReport())
        return channel

    def _deliver_outbox(self, channel: BlockingChannel, report: FlushReport) -> None:
        for entry in self.outbox.pending():
            self._send(channel, entry.event_id, entry.routing_key, entry.body)
            entry.path.unlink(missing_ok=True)
            report.delivered += 1
        if report.delivered:
            logger.info("Delivered {} event(s) from the outbox", report.delivered)

    def _send(self, channel: BlockingChannel, event_id: str, routing_key: str, body: bytes) -> None:
        # Confirm mode: returns once the broker has taken the message; raises NackError if it
        # refused it and UnroutableError if no queue is bound (mandatory).
        with deadline(self.settings.isb_timeout_seconds, f"publishing event {event_id}"):
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


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
