"""add_node overrides what a task class declares, for one node: the same class can run with
two sizes in one workflow, and the pod of each node says so (validated offline)."""

from __future__ import annotations

from datetime import timedelta

import kubernetes_validate
import pytest
import sample_tasks
from conftest import export_package, option
from test_pods import K8S_VERSION, pod_manifest

from processing_core import Resources, Workflow, WorkflowDefinitionError
from processing_core.airflow import to_dag
from processing_core.config import load_settings


def two_sizes() -> Workflow:
    workflow = Workflow("raw", "clean", "sizes", version="1.0.0", workflow_package="sample_tasks")
    workflow.add_node(sample_tasks.Declared, task_id="as_declared")
    workflow.add_node(
        sample_tasks.Declared,
        upstreams="as_declared",
        task_id="big",
        retries=0,
        retry_delay=timedelta(seconds=5),
        execution_timeout=timedelta(hours=3),
        resources=Resources(cpu_request="4", memory_request="16Gi", memory_limit="32Gi"),
        resource_profile="high_memory",
    )
    return workflow


def test_overrides_reach_airflow_and_the_pod_for_that_node_only():
    dag = to_dag(two_sizes(), settings=load_settings())
    declared, big = dag.get_task("as_declared"), dag.get_task("big")
    assert (declared.retries, big.retries) == (3, 0)
    assert big.retry_delay == timedelta(seconds=5)
    assert big.execution_timeout == timedelta(hours=3)
    assert declared.execution_timeout == timedelta(minutes=30)
    manifests = {task_id: pod_manifest(dag.get_task(task_id)) for task_id in ("as_declared", "big")}
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    resources = manifests["big"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "32Gi"}}
    assert manifests["big"]["spec"]["nodeSelector"] == {"processing-core/profile": "high-memory"}
    assert manifests["as_declared"]["spec"]["nodeSelector"] == {"processing-core/profile": "gpu"}
    # Both nodes run the class itself: the override is Airflow's and Kubernetes' business.
    for manifest in manifests.values():
        arguments = manifest["spec"]["containers"][0]["args"]
        assert arguments[1] == "sample_tasks:Declared"
    assert declared.doc_md == big.doc_md


def test_an_exported_file_with_overrides_loads_in_airflow(tmp_path):
    bag = export_package(
        tmp_path,
        "sized_pipeline",
        "from datetime import timedelta\n"
        "import sample_tasks\n"
        "from processing_core import Workflow\n"
        "workflow = Workflow('raw', 'clean', 'sized', version='1.0.0')\n"
        "workflow.add_node(sample_tasks.Echo, task_id='small')\n"
        "workflow.add_node(sample_tasks.Echo, upstreams='small', task_id='patient', retries=4,\n"
        "                  retry_delay=timedelta(minutes=2))\n",
    )
    dag = bag.dags["raw_to_clean_sized_1.0.0"]
    assert (dag.get_task("small").retries, dag.get_task("patient").retries) == (0, 4)
    assert dag.get_task("patient").retry_delay == timedelta(minutes=2)
    command = dag.get_task("patient").arguments
    assert option(command, "task-id") == "patient" and command[1] == "sample_tasks:Echo"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retries": -1}, "add_node override: retries is -1"),
        ({"retry_delay": 30}, "add_node override: retry_delay is 30"),
        ({"resources": Resources(memory_request="2GB")}, "'2GB' is not a Kubernetes quantity"),
        ({"resources": {"cpu": "1"}}, "add_node override: resources is"),
    ],
)
def test_bad_overrides_are_refused_at_add_node_naming_the_node(overrides, message):
    workflow = Workflow("raw", "clean", "bad", version="1.0.0")
    with pytest.raises(WorkflowDefinitionError) as raised:
        workflow.add_node(sample_tasks.Echo, task_id="echo", **overrides)
    assert "task 'echo'" in str(raised.value) and message in str(raised.value)


def test_an_unknown_profile_override_is_refused_by_validation():
    workflow = Workflow("raw", "clean", "bad", version="1.0.0")
    workflow.add_node(sample_tasks.Echo, task_id="echo", resource_profile="enormous")
    with pytest.raises(WorkflowDefinitionError, match="resource_profile 'enormous' is unknown"):
        workflow.validate(load_settings())
