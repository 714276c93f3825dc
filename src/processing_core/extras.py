"""Optional parts of processing-core and the extra that installs each.

`pip install processing-core` is what authoring, export and the pipeline image need; Airflow,
its providers, Spark and the gRPC exporter come with extras, so an image carries no Airflow.
Code that needs an extra asks here first and gets one clear sentence, not an ImportError.
"""

from __future__ import annotations

from importlib.util import find_spec

from processing_core.errors import ProcessingCoreError

# module -> the extra that installs it
EXTRAS = {
    "airflow": "airflow",
    "pyspark": "spark",
    "opentelemetry.exporter.otlp.proto.grpc": "grpc",
    "cryptography": "sign",
}


class MissingExtraError(ProcessingCoreError):
    """Something needs an optional part of processing-core that is not installed."""


def require(module: str, purpose: str) -> None:
    """Raise MissingExtraError naming the extra when `module` is not installed."""
    try:
        found = find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        found = False
    if not found:
        extra = EXTRAS[module]
        raise MissingExtraError(
            f"{purpose} needs {module}, which is not installed here; install "
            f"'processing-core[{extra}]'"
        )
