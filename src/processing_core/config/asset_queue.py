"""The scheduler's repair of asset events left in no run (AssetQueueSettings)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from processing_core.config.concern import _Concern


class AssetQueueSettings(_Concern):
    """The scheduler's repair of asset events left in no run (processing_core.airflow.plugin)."""

    asset_queue_repair: Literal["processing-core", "all", "off"] = Field(
        default="processing-core",
        description="Which asset-scheduled DAGs the scheduler's processing-core plugin keeps "
        "from stranding events in no run (apache/airflow#56050): `processing-core` (the DAGs "
        "it generated), `all`, or `off`.",
    )
    asset_queue_repair_seconds: float = Field(
        default=10.0,
        ge=1,
        le=3600,
        description="How often the scheduler looks for stranded asset events, at most; a run "
        "that starts or ends looks at once.",
    )
