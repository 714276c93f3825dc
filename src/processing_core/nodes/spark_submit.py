"""Spark node of the `local` target: spark-submit to the master of an Airflow connection.

The task becomes processing-core's SparkSubmitTask (the apache-spark provider's
SparkSubmitOperator, returning the task's result as XCom), sized by what the class declares
over the SPARK_ON_K8S_* defaults, as on Kubernetes.
"""

from __future__ import annotations

from typing import Any, cast

from processing_core.definition import spark_sizes
from processing_core.definition.node import TaskNode
from processing_core.definition.spark_task import SparkTaskBase
from processing_core.nodes.common import (
    TASK_CONTEXT_ENV,
    NodeContext,
    base_operator_kwargs,
    mapped_run_templates,
    run_task_arguments,
)
from processing_core.nodes.spec import OperatorSpec

OPERATOR = "processing_core.airflow_spark_submit:SparkSubmitTask"
PROVIDER = "airflow.providers.apache.spark.operators.spark_submit:SparkSubmitOperator"


def spark_submit_operator(node: TaskNode, context: NodeContext) -> OperatorSpec:
    task = cast(type[SparkTaskBase], node.declared)  # with add_node's overrides
    resources = spark_sizes.resolve(task.spark_resources, context.settings)
    arguments = run_task_arguments(
        node,
        context,
        mapped_run_templates(node, context),
        result_path=None,  # SparkSubmitTask passes a result file of its own
    )
    conf = {
        "spark.driver.cores": str(resources.driver_cores),
        "spark.driver.memoryOverhead": f"{resources.driver_memory_overhead_mb}m",
        "spark.executor.memoryOverhead": f"{resources.executor_memory_overhead_mb}m",
    }
    if resources.dynamic_allocation:
        conf |= {
            "spark.dynamicAllocation.enabled": "true",
            "spark.dynamicAllocation.initialExecutors": str(resources.initial_executors),
            "spark.dynamicAllocation.minExecutors": str(resources.min_executors),
            "spark.dynamicAllocation.maxExecutors": str(resources.max_executors),
        }
    kwargs: dict[str, Any] = base_operator_kwargs(node, context)
    if context.profile.queue:
        kwargs["queue"] = context.profile.queue
    kwargs |= {
        "run_task_arguments": arguments,
        "conn_id": context.settings.spark_conn_id,
        "name": f"{context.workflow_name}.{node.task_id}",
        "driver_memory": f"{resources.driver_memory_mb}m",
        "executor_memory": f"{resources.executor_memory_mb}m",
        "executor_cores": resources.executor_cores,
        "conf": dict(sorted({**conf, **resources.spark_conf}.items())),
        "env_vars": dict(TASK_CONTEXT_ENV),
        "do_xcom_push": True,
    }
    if not resources.dynamic_allocation:
        kwargs["num_executors"] = resources.initial_executors
    return OperatorSpec(task_id=node.task_id, operator=OPERATOR, kwargs=kwargs, provider=PROVIDER)
