"""processing-core: write data processing tasks once; run them as versioned Airflow DAGs.

Authors subclass `TaskBase`, wire classes into a `Workflow`, and export versioned DAG files
whose tasks run in the pipeline's image on Kubernetes (or on the Airflow worker).
"""

from processing_core._meta import library_version
from processing_core.definition.parameters import Parameter
from processing_core.definition.resources import Resources, SecretRef
from processing_core.definition.spark import SparkResources
from processing_core.definition.spark_task import SparkTaskBase
from processing_core.definition.task import RunContext, TaskBase
from processing_core.definition.workflow import Workflow
from processing_core.errors import (
    ExportError,
    ProcessingCoreError,
    SettingsError,
    WorkflowDefinitionError,
)


def __getattr__(name: str) -> str:
    # `__version__` on demand: task start-up in the pod should not pay for the metadata scan.
    if name == "__version__":
        return library_version()
    raise AttributeError(f"module 'processing_core' has no attribute {name!r}")


__all__ = [
    "ExportError",
    "Parameter",
    "ProcessingCoreError",
    "Resources",
    "RunContext",
    "SecretRef",
    "SettingsError",
    "SparkResources",
    "SparkTaskBase",
    "TaskBase",
    "Workflow",
    "WorkflowDefinitionError",
    "__version__",
]
