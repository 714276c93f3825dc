"""Tasks that end the hard way, for `airflow dags test` on the local target: a downstream task
must never run after a task called sys.exit() and was rolled back, and output printed after
a task's result must never become its XCom; a Spark task failing under spark-submit reports
its own error."""

from __future__ import annotations

from sample_tasks import Echo, ExitsNinetyNine, ExitsZero, NoisyAfterResult, SparkFails

from processing_core import Parameter, Workflow

workflow = Workflow(
    input_data="raw",
    output_data="checked",
    category="exits",
    version="1.0.0",
    parameters=[Parameter("markers", type="string", required=True)],
)
workflow.add_node(ExitsZero, task_id="exits_zero")
workflow.add_node(Echo, upstreams="exits_zero", task_id="after_exit_zero")
workflow.add_node(ExitsNinetyNine, task_id="exits_99")
workflow.add_node(Echo, upstreams="exits_99", task_id="after_exit_99")
workflow.add_node(NoisyAfterResult, task_id="noisy")
workflow.add_node(Echo, upstreams="noisy", task_id="after_noisy")
workflow.add_node(SparkFails, task_id="spark_fails")
