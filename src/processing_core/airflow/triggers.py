"""RabbitMQ messages as Airflow asset events: the trigger behind `Workflow(triggered_by=...)`.

Runs in `airflow triggerer` (the `[airflow]` extra installs what it needs; it cannot come
from a DAG bundle). One consumer per queue, shared by every trigger watching it (Airflow's
shared streams), in ack mode: a message is acknowledged only after each watching trigger
either turned it into an event that Airflow persisted, or let it pass (a body that does not
match its filter). A message no trigger can turn into an event (not a JSON object, too
large) goes to the queue's dead-letter queue with the reason, never dropped silently.

Nothing lost: the broker keeps every message until then, and redelivers what was not
acknowledged when the triggerer stopped. Nothing doubled: a message is known by its id (the
publisher's `message_id`, else a status event's `event_id`, else the body's digest). A
redelivered message may already have become an event before the stop, and a publisher may
send a message twice: when the triggerer can ask Airflow's REST API (`AIRFLOW_API_URL`,
`AIRFLOW_API_TOKEN`), the trigger looks for the id among the asset's recent events (and
among those it made itself) and skips it if found. Without the API a redelivered message
becomes an event again, marked `"redelivered": true` (at least once).

One run per message (`RabbitMQMessages(one_run_per_message=True)`): Airflow's scheduler puts
every event that waits for a run into that run, so the queue's consumer takes the next message
from the broker only once the last one is in a run (Airflow's API shows no queued run for the
asset and its newest event consumed). Messages wait in the broker meanwhile, as durable as
ever, and its queue depth is the backlog. It needs AIRFLOW_API_URL (and AIRFLOW_API_TOKEN);
without them the consumer takes nothing and says so.

Broker address and credentials come from the triggerer's environment (the `ISB_*` settings
of status events): never from the DAG file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from airflow.triggers.shared_stream import (
    AdvanceItem,
    SharedStreamProducer,
    reject_shared_stream_event,
)

from processing_core.config import RetryConfig

log = logging.getLogger(__name__)

CLASSPATH = "processing_core.airflow.triggers.RabbitMQMessageTrigger"
# An asset event's extra is stored with the event and shown in the UI: keep it small.
MAX_BODY_BYTES = 64 * 1024
# How far back a message's earlier event is looked for, and how often Airflow is asked again.
REDELIVERY_WINDOW = timedelta(hours=6)
RELIST_SECONDS = 5.0
# Events per page of Airflow's API, and how long a page Airflow cannot show is asked again
# (about 1.5 s: a run the scheduler just created is started within it).
PAGE = 100
PAGE_RETRY = RetryConfig(attempts=4, delay_seconds=0.2, backoff=2.0, jitter_seconds=0.05)
ONCE = RetryConfig(attempts=1)
# One run per message: how often Airflow is asked whether the last message is in a run, and
# how often a consumer that waits says why.
PACE_SECONDS = 1.0
WAITING_REPORT_SECONDS = 60.0


class RabbitMQMessageTrigger(BaseEventTrigger):
    """Each message of `queue` (declared durable; bound to `exchange` by `routing_keys`
    when given) whose JSON body holds every key-value pair of `match` becomes an event of
    the asset this trigger watches. The event's payload: `message_id`, `routing_key`,
    `body` (the JSON object) and `redelivered`."""

    def __init__(
        self,
        *,
        queue: str,
        asset_name: str,
        exchange: str = "",
        routing_keys: Sequence[str] = (),
        match: Mapping[str, Any] | None = None,
        prefetch: int = 100,
        one_run_per_message: bool = False,
    ) -> None:
        super().__init__()
        self.queue = queue
        self.asset_name = asset_name
        self.exchange = exchange
        self.routing_keys = list(routing_keys)
        self.match = dict(match or {})
        self.prefetch = prefetch
        self.one_run_per_message = one_run_per_message
        # Message ids of the asset's recent events as Airflow's API listed them (None: not
        # asked yet), when; and the ids this trigger turned into events since it started.
        self._listed: RecordedMessages | None = None
        self._listed_at = 0.0
        self._yielded: set[str] = set()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {
            "queue": self.queue,
            "asset_name": self.asset_name,
            "exchange": self.exchange,
            "routing_keys": self.routing_keys,
            "match": self.match,
            "prefetch": self.prefetch,
        }
        if self.one_run_per_message:  # absent otherwise: earlier DAG files' triggers unchanged
            kwargs["one_run_per_message"] = True
        return CLASSPATH, kwargs

    # -- one consumer per queue, shared by the triggers watching it ---------------------------
    def shared_stream_key(self) -> Hashable:
        mode = ("one-run-per-message",) if self.one_run_per_message else ()
        return (
            "processing-core-rabbitmq",
            self.queue,
            self.exchange,
            *sorted(self.routing_keys),
            *mode,
        )

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SharedStreamProducer:
        return QueueConsumer(
            queue=kwargs["queue"],
            exchange=kwargs.get("exchange", ""),
            routing_keys=kwargs.get("routing_keys", ()),
            prefetch=kwargs.get("prefetch", 100),
            paced_by_asset=kwargs["asset_name"] if kwargs.get("one_run_per_message") else None,
        )

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[Any]
    ) -> AsyncIterator[TriggerEvent]:
        async for message in shared_stream:
            if message["problem"]:
                reject_shared_stream_event()  # dead-lettered with the reason (advance)
                continue
            body = message["body"]
            if any(body.get(key) != value for key, value in self.match.items()):
                continue  # not for this trigger: acknowledged once every trigger passed it
            message_id = message["message_id"]
            if await self._already_an_event(message_id, message["redelivered"]):
                log.info("Message %s was already an asset event; skipped", message_id)
                continue
            self._yielded.add(message_id)
            yield TriggerEvent(
                {
                    "message_id": message_id,
                    "routing_key": message["routing_key"],
                    "body": body,
                    "redelivered": message["redelivered"],
                }
            )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # Airflow runs this trigger through its shared stream (filter_shared_stream).
        raise RuntimeError("RabbitMQMessageTrigger runs only as a shared stream (Airflow >= 3.3)")
        yield  # pragma: no cover - an async generator

    async def _already_an_event(self, message_id: str, redelivered: bool) -> bool:
        """Whether the message (by id) already became an event of the watched asset.

        A publisher's second copy of a message (a retry) is recognised by what this trigger
        yielded and by the events Airflow listed when it started. A redelivered message is
        the broker's: its earlier event may or may not have been persisted before the stop,
        so only Airflow's own list (asked again, at most every few seconds) decides.
        """
        now = time.monotonic()
        if self._listed is None or (redelivered and now - self._listed_at > RELIST_SECONDS):
            self._listed = await recorded_message_ids(self.asset_name)
            self._listed_at = now
        if message_id in self._listed.ids:
            return True
        if not redelivered and message_id in self._yielded:
            return True
        if redelivered and self._listed.unreadable:
            log.warning(
                "Redelivered message %s may already be one of the %d events Airflow cannot "
                "show; it becomes an event again",
                message_id,
                self._listed.unreadable,
            )
        return False


@dataclass
class RecordedMessages:
    """What Airflow's API listed of an asset's recent events: their message ids, and how many
    events it could not show (see `_read_range`)."""

    ids: set[str] = field(default_factory=set)
    unreadable: int = 0

    def __ior__(self, other: RecordedMessages) -> RecordedMessages:
        self.ids |= other.ids
        self.unreadable += other.unreadable
        return self


async def recorded_message_ids(asset_name: str) -> RecordedMessages:
    """Message ids in the recent events of `asset_name`, from Airflow's REST API."""
    from processing_core.config import ReleaseSettings, load

    settings = load(ReleaseSettings)
    if not settings.airflow_api_url:
        log.warning(
            "A redelivered message may become a second asset event: set AIRFLOW_API_URL and "
            "AIRFLOW_API_TOKEN in the triggerer's environment so redeliveries are recognised"
        )
        return RecordedMessages()
    import httpx

    since = (datetime.now(UTC) - REDELIVERY_WINDOW).isoformat()
    try:
        async with api_client(settings) as client:
            found = await _listed_message_ids(client, asset_name, since)
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as error:
        log.warning(
            "Cannot list the events of asset %s at %s (%s: %s): a redelivered message may "
            "become a second event",
            asset_name,
            settings.airflow_api_url,
            type(error).__name__,
            error,
        )
        return RecordedMessages()
    if found.unreadable:
        log.warning(
            "Airflow's API cannot show %d recent events of asset %s (a queued run without a "
            "start date, apache/airflow#71360): a redelivered message among them would become "
            "an event again",
            found.unreadable,
            asset_name,
        )
    return found


def api_client(settings: Any) -> Any:
    """An HTTP client for Airflow's REST API (`/api/v2`) at AIRFLOW_API_URL."""
    import httpx

    headers = {}
    if settings.airflow_api_token is not None:
        headers["Authorization"] = f"Bearer {settings.airflow_api_token.get_secret_value()}"
    base = str(settings.airflow_api_url).rstrip("/") + "/api/v2"
    return httpx.AsyncClient(base_url=base, headers=headers, timeout=30)


async def _asset_ids(client: Any, asset_name: str) -> list[int]:
    """The ids of the asset named `asset_name` (Airflow's name search is a pattern)."""
    assets = await client.get("/assets", params={"name_pattern": asset_name})
    assets.raise_for_status()
    return [int(asset["id"]) for asset in assets.json()["assets"] if asset["name"] == asset_name]


async def _listed_message_ids(client: Any, asset_name: str, since: str) -> RecordedMessages:
    found = RecordedMessages()
    for asset_id in await _asset_ids(client, asset_name):
        query = {"asset_id": asset_id, "timestamp_gte": since}
        counted = await client.get("/assets/events", params={**query, "limit": 0})
        counted.raise_for_status()
        total = int(counted.json()["total_entries"])
        for offset in range(0, total, PAGE):
            found |= await _read_range(client, query, offset, min(PAGE, total - offset))
    return found


async def last_message_in_a_run(client: Any, asset_name: str) -> bool:
    """Whether every event of `asset_name` is in a run, as far as Airflow's API shows: no DAG
    has a run queued for the asset, and its newest event was consumed by a run."""
    for asset_id in await _asset_ids(client, asset_name):
        queued = await client.get(f"/assets/{asset_id}/queuedEvents")
        if queued.status_code != 404:
            queued.raise_for_status()
            if int(queued.json().get("total_entries", 0)):
                return False
        newest = await client.get(
            "/assets/events", params={"asset_id": asset_id, "order_by": "-timestamp", "limit": 1}
        )
        if newest.status_code == 500:
            # Airflow 3.3 cannot show an event whose run is queued without a start date
            # (apache/airflow#71360): that event is in a run.
            continue
        newest.raise_for_status()
        events = newest.json()["asset_events"]
        if events and not events[0].get("created_dagruns"):
            return False
    return True


class _Unserialisable(Exception):
    """Airflow answered 500 for a page of asset events: one of them it cannot serialise."""


async def _read_range(
    client: Any, query: dict[str, Any], offset: int, limit: int, *, retry: bool = True
) -> RecordedMessages:
    """The message ids of `limit` events from `offset` (oldest first).

    Airflow 3.3 answers 500 for a page holding an event whose run is queued without a start
    date (apache/airflow#71360): for a moment after the scheduler creates it, or for as long
    as a cleared run waits. A failed page is asked again briefly, then split in halves down
    to the single events Airflow cannot show, which are counted, not guessed.
    """
    import httpx

    from processing_core.retry import async_retrying

    async def page() -> list[dict[str, Any]]:
        params = {**query, "offset": offset, "limit": limit}
        try:
            response = await client.get("/assets/events", params=params)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # After a 500 the api-server may reset the kept-alive connection: a fresh one.
            response = await client.get("/assets/events", params=params)
        if response.status_code == 500:  # 502-504: Airflow unavailable, not one event
            raise _Unserialisable(response.status_code)
        response.raise_for_status()
        return list(response.json()["asset_events"])

    try:
        async for attempt in async_retrying(
            PAGE_RETRY if retry else ONCE,
            retry_if=lambda error: isinstance(error, _Unserialisable),
        ):
            with attempt:
                events = await page()
    except _Unserialisable:
        if limit == 1:
            return RecordedMessages(unreadable=1)
        half = limit // 2
        found = await _read_range(client, query, offset, half, retry=False)
        found |= await _read_range(client, query, offset + half, limit - half, retry=False)
        return found
    found = RecordedMessages()
    for event in events:
        payload = (event.get("extra") or {}).get("payload") or {}
        if isinstance(payload, dict) and payload.get("message_id"):
            found.ids.add(str(payload["message_id"]))
    return found


class QueueConsumer(SharedStreamProducer):
    """The queue's one consumer: yields each message (as a plain dict) with the delivery it
    came in; acknowledges, redelivers or dead-letters it once Airflow says how every
    trigger resolved it."""

    def __init__(
        self,
        *,
        queue: str,
        exchange: str,
        routing_keys: Sequence[str],
        prefetch: int,
        paced_by_asset: str | None = None,
    ) -> None:
        self.queue = queue
        self.exchange = exchange
        self.routing_keys = list(routing_keys)
        self.prefetch = prefetch
        # One run per message: the asset whose runs pace the consumer (see `_paced`).
        self.paced_by_asset = paced_by_asset
        self.dead_letters = f"{queue}.dead-letter"
        self._connection: Any = None
        self._channel: Any = None
        self._unsettled = 0  # messages handed to the triggers and not yet advanced

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        import aio_pika

        from processing_core.config import EventSettings, load

        settings = load(EventSettings)
        host, port = settings.isb_address()
        self._connection = await aio_pika.connect_robust(
            host=host,
            port=port,
            login=settings.isb_username,
            password=settings.isb_password.get_secret_value(),
        )
        self._channel = channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        await channel.declare_queue(self.dead_letters, durable=True)
        queue = await channel.declare_queue(self.queue, durable=True)
        if self.exchange:
            exchange = await channel.declare_exchange(
                self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            for key in self.routing_keys or ["#"]:
                await queue.bind(exchange, routing_key=key)
        log.info("Consuming RabbitMQ queue %s at %s:%s", self.queue, host, port)
        if self.paced_by_asset is not None:
            async for item in self._paced(queue):
                yield item
            return
        async with queue.iterator() as messages:
            async for delivery in messages:
                message = read_message(delivery)
                yield message, (delivery, message["problem"])

    async def _paced(self, queue: Any) -> AsyncIterator[tuple[Any, Any]]:
        """One run per message: take one message from the broker (basic.get, so nothing waits
        unacknowledged in this process) only once the last one is settled and in a run."""
        from processing_core.config import ReleaseSettings, load

        settings = load(ReleaseSettings)
        asset = self.paced_by_asset
        reported = 0.0
        async with api_client(settings) if settings.airflow_api_url else nullcontext() as client:
            while True:
                waiting_for = await self._why_wait(client, settings, asset)
                if waiting_for:
                    if time.monotonic() - reported > WAITING_REPORT_SECONDS:
                        log.warning("Messages of queue %s wait: %s", self.queue, waiting_for)
                        reported = time.monotonic()
                    await asyncio.sleep(PACE_SECONDS)
                    continue
                delivery = await queue.get(no_ack=False, fail=False)
                if delivery is None:
                    await asyncio.sleep(PACE_SECONDS)
                    continue
                message = read_message(delivery)
                self._unsettled += 1
                yield message, (delivery, message["problem"])

    async def _why_wait(self, client: Any, settings: Any, asset: str | None) -> str:
        """Why the next message may not be taken yet; "" when it may."""
        if client is None:
            return (
                "one_run_per_message needs Airflow's API: set AIRFLOW_API_URL and "
                "AIRFLOW_API_TOKEN in the triggerer's environment"
            )
        if self._unsettled:
            return "the last message is not yet an asset event"
        import httpx

        try:
            if await last_message_in_a_run(client, str(asset)):
                return ""
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as error:
            return f"cannot ask Airflow at {settings.airflow_api_url} ({type(error).__name__})"
        return f"the last message of asset {asset} is not yet in a run"

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        self._unsettled = max(0, self._unsettled - len(batch))
        for item in batch:
            (delivery, problem), outcome = item.broker_payload, item.outcome
            if outcome.rejected:
                await self._dead_letter(delivery, problem or "rejected")
                await delivery.ack()
            elif outcome.failed or not outcome.acked:
                # An event not confirmed persisted (or nobody was listening): again later.
                await delivery.nack(requeue=True)
            else:
                await delivery.ack()

    async def _dead_letter(self, delivery: Any, reason: str) -> None:
        import aio_pika

        headers = dict(delivery.headers or {})
        headers["x-processing-core-reason"] = reason
        headers["x-processing-core-queue"] = self.queue
        await self._channel.default_exchange.publish(
            aio_pika.Message(
                body=delivery.body,
                headers=headers,
                message_id=delivery.message_id,
                content_type=delivery.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self.dead_letters,
        )
        log.warning("Message %s dead-lettered: %s", delivery.message_id, reason)

    async def aclose(self) -> None:
        if self._connection is not None:
            await asyncio.shield(self._connection.close())


def read_message(delivery: Any) -> dict[str, Any]:
    """A delivery as the triggers see it: id, routing key, redelivered, and the JSON object
    body, or `problem` saying why it cannot be an event."""
    body: Any = None
    problem = ""
    if len(delivery.body) > MAX_BODY_BYTES:
        problem = f"the body is {len(delivery.body)} bytes; an event takes {MAX_BODY_BYTES}"
    else:
        body, problem = _json_object(delivery.body)
    # The publisher's id; a processing-core status event's own; else the body's digest.
    message_id = delivery.message_id
    if not message_id and isinstance(body, dict):
        message_id = body.get("event_id")
    if not message_id:
        message_id = hashlib.sha256(delivery.body).hexdigest()
    return {
        "message_id": str(message_id),
        "routing_key": delivery.routing_key or "",
        "redelivered": bool(delivery.redelivered),
        "body": body if isinstance(body, dict) else {},
        "problem": problem,
    }


def _json_object(data: bytes) -> tuple[Any, str]:
    """The body as a JSON object, or why it is not one an event can hold.

    UTF-8 only (RFC 8259): `json.loads` of bytes would guess UTF-16 or UTF-32 from the first
    bytes, and take a text no other reader of the message would. A string may not hold a lone
    surrogate (`"\\ud800"`): it is no Unicode text, and Airflow could not store the event.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        culprit = data[error.start : error.start + 1]
        return None, (
            f"the body is not UTF-8 text (byte {error.start}: {culprit!r}); publish JSON "
            "encoded as UTF-8"
        )
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark, which RFC 8259 lets readers skip
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        return None, f"the body is not JSON ({error})"
    except ValueError as error:  # NaN or Infinity: no JSON Airflow can store
        return None, f"the body is not JSON: {error}"
    except RecursionError:
        return None, "the body is nested too deeply"
    if not isinstance(body, dict):
        return None, f"the body is JSON {type(body).__name__}, not an object"
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None, (
            f"{_lone_surrogate(body)} holds a lone surrogate (an escape such as \\ud800 with no "
            "pair), which is not Unicode text; escape characters in pairs, or send them as UTF-8"
        )
    return body, ""


def _lone_surrogate(body: dict[str, Any]) -> str:
    """Where in `body` (parsed JSON) a string is first not UTF-8, e.g. `body['a'][0]`."""
    pending: list[tuple[str, Any]] = [("body", body)]
    while pending:  # depth-first, without recursion (the nesting is as deep as JSON allows)
        where, value = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return where
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                pending += [(f"{where}[{key!r}]", item), (f"{where} (the key {key!r})", key)]
        elif isinstance(value, list):
            pending += [(f"{where}[{i}]", item) for i, item in reversed(list(enumerate(value)))]
    return "body"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
