"""Spark tasks of the local target: SparkSubmitTask (the apache-spark provider's
SparkSubmitOperator) sized like the class declares, submitted to SPARK_CONN_ID's master.
`tests/test_end_to_end_airflow.py` runs it for real with pyspark's spark-submit."""

from __future__ import annotations

import sample_tasks
from conftest import EXAMPLE_VERSION, load_dagbag, option, template_context

from processing_core import Workflow
from processing_core.airflow import to_dag
from processing_core.airflow_spark_submit import SparkSubmitTask
from processing_core.config import load_settings


class TaskInstance:
    try_number = 3

    def xcom_pull(self, task_ids: str):
        return {"status": "success", "outputs": {"n": 1}}


def sized_operator(**environment) -> SparkSubmitTask:
    workflow = Workflow("l0", "l1", "submit", version="1.0.0", workflow_package="sample_tasks")
    workflow.add_node(sample_tasks.Echo, task_id="first")
    workflow.add_node(sample_tasks.SparkSized, upstreams="first")
    dag = to_dag(workflow, "local", settings=load_settings(**environment))
    operator = dag.get_task("spark_sized")
    assert isinstance(operator, SparkSubmitTask)
    return operator


def test_the_class_sizes_and_the_connection_reach_spark_submit():
    operator = sized_operator(spark_conn_id="spark_cluster", spark_on_k8s_driver_memory="3g")
    assert operator._conn_id == "spark_cluster"
    assert operator._deploy_mode == "client"  # the driver and its result stay on the worker
    assert (operator._executor_memory, operator._executor_cores) == ("3072m", 2)
    assert operator._driver_memory == "3072m"
    assert operator._num_executors is None  # min != max: dynamic allocation instead
    assert operator.conf["spark.dynamicAllocation.maxExecutors"] == "6"
    assert operator.conf["spark.sql.adaptive.enabled"] == "true"  # the class's spark_conf
    assert operator.retries == 2


def test_the_run_reaches_the_entrypoint_and_the_result_path_is_the_operators():
    operator = sized_operator()
    operator.render_template_fields(template_context(TaskInstance(), {"seed": 1}, run_id="r7"))
    arguments = operator.application_args
    assert arguments[:2] == ["run-task", "sample_tasks:SparkSized"]
    assert option(arguments, "run-id") == "r7"
    assert option(arguments, "try-number") == "3"
    assert option(arguments, "inputs") == '{"first": {"outputs": {"n": 1}, "status": "success"}}'
    assert not [a for a in arguments if a.startswith("--result-path")]


def test_the_example_exported_for_the_local_target_submits_its_spark_step(local_dags):
    bag = load_dagbag(local_dags)
    assert bag.import_errors == {}
    operator = bag.dags[f"l0_to_l1_vbi_{EXAMPLE_VERSION}"].get_task("frame_statistics")
    assert type(operator).__name__ == "SparkSubmitTask"
    assert operator._conn_id == "spark_default"
