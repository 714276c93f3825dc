"""Stable import path of the local target's Spark operator (an alias of
`processing_core.airflow.spark_submit`, where the code lives): every DAG file with a Spark
task on the local target imports `SparkSubmitTask` from here. Public API."""

from processing_core.airflow.spark_submit import SparkSubmitTask

__all__ = ["SparkSubmitTask"]
