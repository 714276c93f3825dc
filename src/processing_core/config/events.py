"""Status events on the interservice bus (RabbitMQ) and their outbox (EventSettings), with
the service addresses of MESH_CONFIG and the retry policy of RETRY_CONFIG."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from processing_core.config.concern import _Concern


class MeshService(BaseModel):
    """One service's address in MESH_CONFIG."""

    mesh_address: str = Field(min_length=1)
    mesh_port: int = Field(gt=0, lt=65536)

    def credentials(self) -> list[str]:
        """What the address holds before its last `@` (`user:password@host`, with a scheme or
        not): the password, or a token given alone. Masked wherever settings are shown."""
        userinfo, at, _ = self.mesh_address.split("://", 1)[-1].rpartition("@")
        if not at or not userinfo:
            return []
        _user, colon, password = userinfo.partition(":")
        return [password if colon else userinfo]


# dkist_service_configuration's RETRY_CONFIG keys (a DKIST deployment sets them) -> ours.
DKIST_RETRY_KEYS = {
    "retry_delay": "delay_seconds",
    "retry_backoff": "backoff",
    "retry_max_delay": "max_delay_seconds",
    "retry_jitter": "jitter_seconds",
    "retry_tries": "attempts",
}


class RetryConfig(BaseModel):
    """How publishing events retries: attempts, delays growing by `backoff`, random jitter.

    dkist's keys are read too (`retry_delay`, `retry_backoff`, `retry_max_delay`,
    `retry_jitter` as [min, max], `retry_tries`), so one RETRY_CONFIG serves a DKIST
    deployment's services and these events; `retry_tries` -1 (dkist's "forever") keeps the
    default attempts: a task's outcome never waits on the broker."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    attempts: int = Field(default=3, ge=1, le=100)
    delay_seconds: float = Field(default=0.2, ge=0)
    max_delay_seconds: float = Field(default=5.0, ge=0)
    backoff: float = Field(default=2.0, ge=1)
    jitter_seconds: float = Field(default=0.1, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _dkist_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not set(value) & set(DKIST_RETRY_KEYS):
            return value
        mapped = {key: item for key, item in value.items() if key not in DKIST_RETRY_KEYS}
        for key, ours in DKIST_RETRY_KEYS.items():
            if key not in value or ours in mapped:  # our own key, when given, wins
                continue
            item = value[key]
            if key == "retry_jitter" and isinstance(item, list | tuple) and len(item) == 2:
                item = item[1]  # the most jitter added
            if key == "retry_tries" and item == -1:
                continue  # forever: not for an event a task run waits on
            mapped[ours] = item
        return mapped

    def delays(self) -> list[float]:
        """The pause before each retry, jitter left out (the caller adds it)."""
        return [
            min(self.delay_seconds * self.backoff**number, self.max_delay_seconds)
            for number in range(self.attempts - 1)
        ]


class EventSettings(_Concern):
    """Status events on the interservice bus (RabbitMQ), and their outbox."""

    # Status events on the interservice bus (RabbitMQ).
    events_enabled: bool = Field(
        default=True, description="Publish task status events to RabbitMQ."
    )

    isb_host: str | None = Field(
        default=None,
        description="RabbitMQ host; default MESH_CONFIG's interservice-bus, else localhost.",
    )

    isb_port: int | None = Field(
        default=None,
        gt=0,
        lt=65536,
        description="RabbitMQ port; default MESH_CONFIG's interservice-bus, else 5672.",
    )

    mesh_config: dict[str, MeshService] = Field(
        default_factory=dict,
        description=(
            'JSON object of service addresses, e.g. `{"interservice-bus": {"mesh_address": '
            '"localhost", "mesh_port": 5672}}`.'
        ),
    )

    isb_username: str = Field(default="guest", description="RabbitMQ user.")

    isb_password: SecretStr = Field(
        default=SecretStr("guest"), description="RabbitMQ password (never shown)."
    )

    isb_exchange: str = Field(
        default="processing-core.events",
        pattern=r"^[A-Za-z0-9_.:-]{1,255}$",
        description="Topic exchange events are published to; routing key = event kind.",
    )

    isb_queue: str = Field(
        default="processing-core.events",
        pattern=r"^[A-Za-z0-9_.:-]{1,255}$",
        description="Durable queue the library declares and binds to the exchange (all kinds).",
    )

    isb_queue_type: Literal["classic", "quorum"] = Field(
        default="classic", description="Type of that queue: classic or quorum."
    )

    isb_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Seconds to wait for RabbitMQ to connect, confirm or close before an event "
        "goes to the outbox; a broker that stalls is not tried again in the same run.",
    )

    retry_config: RetryConfig = Field(
        default_factory=RetryConfig,
        description=(
            "JSON object: attempts, delay_seconds, max_delay_seconds, backoff, jitter_seconds "
            "of publishing before an event goes to the outbox."
        ),
    )

    events_outbox: str = Field(
        default_factory=lambda: os.path.join(tempfile.gettempdir(), "processing-core-outbox"),
        description=(
            "Folder keeping events the broker did not confirm, until they are delivered; "
            "mount a volume there to keep them across pods."
        ),
    )

    @model_validator(mode="after")
    def _outbox_is_a_folder(self) -> EventSettings:
        path = self.events_outbox
        if self.events_enabled and os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(
                f"EVENTS_OUTBOX {path!r} is a file; it must be a folder (or not exist yet)"
            )
        return self

    def _derived_secrets(self) -> list[str]:
        return [secret for service in self.mesh_config.values() for secret in service.credentials()]

    def isb_address(self) -> tuple[str, int]:
        """RabbitMQ's host and port: ISB_HOST/ISB_PORT, else MESH_CONFIG, else localhost:5672."""
        mesh = self.mesh_config.get("interservice-bus")
        host = self.isb_host or (mesh.mesh_address if mesh else "localhost")
        port = self.isb_port or (mesh.mesh_port if mesh else 5672)
        return host, port
