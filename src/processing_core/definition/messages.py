"""Workflows started by messages: `Workflow(triggered_by=RabbitMQMessages(...))`.

Each message on the queue becomes an event of an asset the workflow is scheduled on; the
asset's watcher runs processing-core's RabbitMQ trigger in Airflow's triggerer
(processing_core.airflow.triggers). Plain data here, checked before export; the broker's
address and credentials are the triggerer's `ISB_*` settings, never part of a DAG file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from processing_core.definition.assets import Asset

# AMQP names: at most 255 bytes; `amq.` is the broker's own.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,254}\Z")
_ROUTING_KEY_RE = re.compile(r"[A-Za-z0-9._:*#-]{1,255}\Z")


@dataclass(frozen=True)
class RabbitMQMessages:
    """The messages of a RabbitMQ `queue` (declared durable; bound to the topic `exchange`
    by `routing_keys` when given) whose JSON body holds every pair of `match` start runs of
    the workflow; its tasks read their messages in `self.asset_events`
    (`extra["payload"]["body"]`). `name` names the asset (default `rabbitmq_<queue>`).

    By default a run takes every message that arrived since the run before it (a batch: few
    runs, however fast messages come). With `one_run_per_message=True` each message gets a
    run of its own, whose note names it; the next message is taken from the broker once the
    last one is in a run, so messages wait in the queue rather than in Airflow (the
    triggerer needs AIRFLOW_API_URL and AIRFLOW_API_TOKEN)."""

    queue: str
    exchange: str = ""
    routing_keys: tuple[str, ...] = ()
    match: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    prefetch: int = 100
    one_run_per_message: bool = False

    @classmethod
    def status_events(
        cls,
        queue: str,
        *,
        workflow: str,
        version: str | None = None,
        kinds: Sequence[str] = ("run.succeeded",),
        exchange: str = "processing-core.events",
        one_run_per_message: bool = False,
    ) -> RabbitMQMessages:
        """processing-core's own status events of `workflow` (one `version`, or any), of
        the given `kinds`, from the events exchange (ISB_EXCHANGE's default): start this
        workflow when another one's run succeeded, with no sensor holding a worker slot
        (`one_run_per_message=True`: a run of this workflow for each of those events)."""
        match: dict[str, Any] = {"workflow_name": workflow}
        if version is not None:
            match["workflow_version"] = version
        return cls(
            queue=queue,
            exchange=exchange,
            routing_keys=tuple(kinds),
            match=match,
            one_run_per_message=one_run_per_message,
        )

    @property
    def asset(self) -> Asset:
        """The asset the workflow is scheduled on and the trigger records events of."""
        return Asset(f"rabbitmq://queue/{self.queue}", name=self.name or f"rabbitmq_{self.queue}")

    def trigger_kwargs(self) -> dict[str, Any]:
        kwargs = {
            "queue": self.queue,
            "asset_name": self.asset.key,
            "exchange": self.exchange,
            "routing_keys": list(self.routing_keys),
            "match": dict(self.match),
            "prefetch": self.prefetch,
        }
        if self.one_run_per_message:  # absent by default: DAG files of batching unchanged
            kwargs["one_run_per_message"] = True
        return kwargs

    def problems(self) -> list[str]:
        """What is wrong, each with the fix; [] when fine."""
        where = f"triggered_by queue {self.queue!r}"
        found = []
        for label, value in (("queue", self.queue), ("exchange", self.exchange or "x")):
            if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
                found.append(
                    f"{where}: {label} {value!r} must be 1-255 letters, digits and . _ : -"
                )
            elif value.startswith("amq."):
                found.append(f"{where}: {label} {value!r} starts with 'amq.', RabbitMQ's own")
        keys = self.routing_keys
        if isinstance(keys, str) or not isinstance(keys, Sequence):
            found.append(f"{where}: routing_keys must be a list of strings, e.g. ['run.*']")
        else:
            for key in keys:
                if not isinstance(key, str) or not _ROUTING_KEY_RE.fullmatch(key):
                    found.append(f"{where}: routing key {key!r} is not a topic pattern")
            if keys and not self.exchange:
                found.append(f"{where}: routing_keys bind the queue to an exchange; name it")
        if not isinstance(self.match, Mapping) or not all(
            isinstance(key, str) for key in self.match
        ):
            found.append(f"{where}: match must be a dict of body keys to values")
        else:
            found.extend(_json_problems(self.match, f"{where}: match"))
        if (
            isinstance(self.prefetch, bool)
            or not isinstance(self.prefetch, int)
            or not (1 <= self.prefetch <= 10_000)
        ):
            found.append(f"{where}: prefetch must be a whole number from 1 to 10000")
        if not isinstance(self.one_run_per_message, bool):
            found.append(f"{where}: one_run_per_message must be True or False")
        found.extend(f"{where}: {problem}" for problem in self.asset.problems())
        return found


def _json_problems(value: object, where: str) -> list[str]:
    import json

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        return [f"{where} must hold JSON values only ({error})"]
    return []
