"""The SparkSession a Spark task gets as `self.spark`: the submitted cluster's, or a local one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from processing_core.config import RunSettings, load

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def create_spark_session(app_name: str, spark_conf: Mapping[str, str]) -> SparkSession:
    """Under spark-submit (the SparkApplication's driver) join its configuration; otherwise
    start Spark in local mode, so the same task runs on a laptop and in CI."""
    from processing_core.extras import require

    require("pyspark", f"Spark task {app_name!r}")
    from pyspark.sql import SparkSession

    settings = load(RunSettings)
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_conf.items():
        builder = builder.config(key, value)
    if settings.pyspark_gateway_port is None:
        builder = builder.master(settings.spark_local_master)
    return builder.getOrCreate()
