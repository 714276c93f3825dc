"""processing-core: write data processing tasks once; run them as versioned Airflow DAGs.

Authors subclass `TaskBase`, wire classes into a `Workflow`, and export versioned DAG files
whose tasks run in the pipeline's image on Kubernetes (or on the Airflow worker).

Names are imported on first use: a DAG file that imports the small
`processing_core.airflow_callbacks` module must not pay for the whole library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from processing_core.definition.assets import AllOf, AnyOf, Asset, AssetEvent, AssetsOrCron
    from processing_core.definition.deadline import Deadline
    from processing_core.definition.messages import RabbitMQMessages
    from processing_core.definition.parameters import Parameter
    from processing_core.definition.resources import Resources, SecretRef
    from processing_core.definition.spark import SparkResources
    from processing_core.definition.spark_task import SparkTaskBase
    from processing_core.definition.task import RunContext, TaskBase
    from processing_core.definition.volumes import Volume
    from processing_core.definition.workflow import Workflow
    from processing_core.errors import (
        ExportError,
        ProcessingCoreError,
        SettingsError,
        WorkflowDefinitionError,
    )

_EXPORTS = {
    "AllOf": "processing_core.definition.assets",
    "AnyOf": "processing_core.definition.assets",
    "Asset": "processing_core.definition.assets",
    "AssetEvent": "processing_core.definition.assets",
    "AssetsOrCron": "processing_core.definition.assets",
    "Deadline": "processing_core.definition.deadline",
    "ExportError": "processing_core.errors",
    "Parameter": "processing_core.definition.parameters",
    "ProcessingCoreError": "processing_core.errors",
    "RabbitMQMessages": "processing_core.definition.messages",
    "Resources": "processing_core.definition.resources",
    "RunContext": "processing_core.definition.task",
    "SecretRef": "processing_core.definition.resources",
    "SettingsError": "processing_core.errors",
    "SparkResources": "processing_core.definition.spark",
    "SparkTaskBase": "processing_core.definition.spark_task",
    "TaskBase": "processing_core.definition.task",
    "Volume": "processing_core.definition.volumes",
    "Workflow": "processing_core.definition.workflow",
    "WorkflowDefinitionError": "processing_core.errors",
}

__all__ = [
    "AllOf",
    "AnyOf",
    "Asset",
    "AssetEvent",
    "AssetsOrCron",
    "Deadline",
    "ExportError",
    "Parameter",
    "ProcessingCoreError",
    "RabbitMQMessages",
    "Resources",
    "RunContext",
    "SecretRef",
    "SettingsError",
    "SparkResources",
    "SparkTaskBase",
    "TaskBase",
    "Volume",
    "Workflow",
    "WorkflowDefinitionError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from processing_core._meta import library_version

        return library_version()
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'processing_core' has no attribute {name!r}")
