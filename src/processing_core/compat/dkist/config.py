"""dkist-processing-core's configuration class, for dkist-processing-common's to build on.

dkist-processing-common subclasses `DKISTProcessingCoreConfiguration` (its
`DKISTProcessingCommonConfiguration`) and reads its fields and properties: the interservice
bus's user, password, exchange, queue type and address, talus connection factories, the
build version, the notebook switch. This class has the same fields, defaults and
environment variables as dkist's, on `dkist_service_configuration`'s base (which
dkist-processing-common brings). Where processing-core reads the same variable, the two
agree on its meaning:

- `ISB_USERNAME`, `ISB_PASSWORD`, `ISB_QUEUE_TYPE`, `MESH_CONFIG` (its `interservice-bus`):
  the broker, for common's messages and for processing-core's status events alike;
- `BUILD_VERSION`: the version a workflow takes when it names none;
- `RETRY_CONFIG`: processing-core reads dkist's keys (`retry_delay`, ...) too;
- `ISB_EXCHANGE` differs: the exchange common publishes to (dkist's default
  `master.direct.x`, a direct exchange) and the topic exchange of processing-core's status
  events (default `processing-core.events`). Leave it unset, or set it only where both may
  use one exchange.

`pip_timeout` and `pip_retries` are kept for code that reads them; nothing installs per task
here (every task runs in the pipeline's image).
"""

from __future__ import annotations

import os
from typing import Any

from processing_core.extras import MissingExtraError

try:
    from dkist_service_configuration import InstrumentedMeshServiceConfigurationBase
    from dkist_service_configuration.settings import MeshService
except ModuleNotFoundError:  # pragma: no cover - dkist-processing-common always brings it
    raise MissingExtraError(
        "processing_core.compat.dkist.config builds on dkist-service-configuration, which is "
        "not installed here; install dkist-processing-common (which brings it), or "
        "'dkist-service-configuration'"
    ) from None
from pydantic import Field


class DKISTProcessingCoreConfiguration(InstrumentedMeshServiceConfigurationBase):
    """Environment configurations of dkist-processing-core, as dkist's."""

    isb_username: str = Field(default="guest", description="Username for the interservice-bus.")
    isb_password: str = Field(default="guest", description="Password for the interservice-bus.")
    isb_exchange: str = Field(
        default="master.direct.x", description="Exchange for the interservice-bus."
    )
    isb_queue_type: str = Field(
        default="classic",
        description="Queue type for the interservice-bus.",
        examples=["quorum", "classic"],
    )
    build_version: str = Field(
        default="dev", description="Fallback build version for workflow tasks."
    )
    pip_timeout: int = Field(default=15, description="Kept for compatibility: unused.")
    pip_retries: int = Field(default=5, description="Kept for compatibility: unused.")
    is_notebook_execution_environment: bool = Field(
        default=False,
        description="Whether the code runs in a notebook execution environment.",
    )

    @property
    def cpu_count(self) -> int:
        """The number of CPUs this process may use."""
        counted = getattr(os, "process_cpu_count", os.cpu_count)()  # 3.13+, else all CPUs
        return counted or 1

    @property
    def isb_mesh_service(self) -> MeshService:
        """The interservice bus's address (MESH_CONFIG's `interservice-bus`)."""
        return self.service_mesh_detail(
            service_name="interservice-bus",
            default_mesh_service=MeshService(mesh_address="localhost", mesh_port=5672),
        )

    @property
    def isb_producer_connection_parameters(self) -> Any:
        from talus.models.connection_parameters import ConnectionParameterFactory

        return ConnectionParameterFactory(
            rabbitmq_host=self.isb_mesh_service.host,
            rabbitmq_port=self.isb_mesh_service.port,
            rabbitmq_user=self.isb_username,
            rabbitmq_pass=self.isb_password,
            connection_name=f"{self.service_name}-producer",
        )

    @property
    def isb_connection_retryer(self) -> Any:
        from talus import ConnectionRetryerFactory

        return ConnectionRetryerFactory(
            delay_min=1, delay_max=5, backoff=1, jitter_min=1, jitter_max=3, attempts=3
        )

    @property
    def isb_queue_arguments(self) -> dict[str, str]:
        return {"x-queue-type": self.isb_queue_type}

    @property
    def isb_publish_exchange(self) -> Any:
        from talus import Exchange

        return Exchange(name=self.isb_exchange)

    @property
    def otel_resource(self) -> Any:
        from opentelemetry.sdk.resources import Resource

        return super().otel_resource.merge(
            Resource(attributes={"service.name.alias": "dkist-processing"})
        )


core_configurations = DKISTProcessingCoreConfiguration()
