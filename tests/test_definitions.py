"""Units of the definition side: quantities, names, versions, parameters, the graph."""

from __future__ import annotations

from decimal import Decimal

import invalid_tasks as t
import pytest
import sample_tasks

from processing_core import Parameter, Resources, Workflow
from processing_core.airflow import to_dag
from processing_core.config import load_settings
from processing_core.definition.naming import dns_label, image_tag, label_value, snake_case
from processing_core.definition.parameters import resolve_parameters
from processing_core.definition.resources import parse_quantity


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        (2, Decimal(2)),
        ("1.5", Decimal("1.5")),
        ("2Gi", Decimal(2 * 2**30)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("100M", Decimal(100_000_000)),
    ],
)
def test_quantities_parse_like_kubernetes(text, amount):
    assert parse_quantity(text) == amount


@pytest.mark.parametrize("text", ["", "lots", "2GB", "-1", "1.2.3", "Gi", "2 Gi", "1e", True])
def test_malformed_quantities_are_refused(text):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def test_resources_to_requests_and_limits():
    resources = Resources(
        cpu_request="250m", memory_limit="1Gi", gpus=2, gpu_resource="amd.com/gpu"
    )
    assert resources.problems() == []
    assert resources.requests() == {"cpu": "250m"}
    assert resources.limits() == {"memory": "1Gi", "amd.com/gpu": "2"}


def test_names():
    assert snake_case("QualityCheck") == "quality_check"
    assert snake_case("L1Products") == "l1_products"
    assert snake_case("HTTPUpload") == "http_upload"
    assert image_tag("1.2.0+g1a2b3c") == "1.2.0-g1a2b3c"
    assert label_value("_a/b c_") == "a-b-c"
    assert dns_label("Make_Products") == "make-products"


def test_version_precedence(monkeypatch):
    workflow = Workflow("l0", "l1", "vbi", workflow_package="processing_core")
    settings = load_settings(build_version="9.9.9")
    assert workflow.resolve_version("1.0.0", settings) == "1.0.0"
    assert workflow.resolve_version(None, settings) == "9.9.9"
    # Without BUILD_VERSION: the installed distribution of the workflow package.
    from processing_core import __version__

    assert workflow.resolve_version(None, load_settings(build_version=None)) == __version__
    declared = Workflow("l0", "l1", "vbi", version="2.0.0", workflow_package="processing_core")
    assert declared.resolve_version(None, settings) == "2.0.0"
    monkeypatch.setenv("BUILD_VERSION", "7.0.0")
    assert workflow.resolve_version() == "7.0.0"


def test_workflow_name_dag_id_and_tags():
    workflow = Workflow("l0", "l1", "vbi", "beta", version="1.0.0", tags=["b", "a", "b", "vbi"])
    assert workflow.name == "l0_to_l1_vbi_beta"
    assert workflow.dag_id("1.0.0") == "l0_to_l1_vbi_beta_1.0.0"
    assert workflow.tags("1.0.0") == ["1.0.0", "a", "b", "l0", "l0_to_l1_vbi_beta", "l1", "vbi"]
    assert workflow.workflow_package == "test_definitions"  # the module that created it


def test_same_class_twice_and_upstreams_by_class_or_id():
    workflow = Workflow("l0", "l1", "vbi", version="1.0.0", workflow_package="invalid_tasks")
    workflow.add_node(t.Good)
    workflow.add_node(t.Other, upstreams=t.Good, task_id="other_a")
    workflow.add_node(t.Other, upstreams=["good"], task_id="other_b")
    workflow.add_node(sample_tasks.Echo, upstreams=["other_a", "other_b"], task_id="join")
    assert workflow.upstream_task_ids() == {
        "good": (),
        "other_a": ("good",),
        "other_b": ("good",),
        "join": ("other_a", "other_b"),
    }
    dag = to_dag(workflow, target="local")
    assert dag.get_task("join").upstream_task_ids == {"other_a", "other_b"}


def test_parameter_schemas():
    assert Parameter("a").json_schema() == {"type": ["string", "null"]}
    assert Parameter("a", required=True).json_schema() == {"type": "string"}
    assert Parameter("a", type="integer", default=3).json_schema() == {"type": ["integer", "null"]}
    # An emptied form field (null) means the default.
    assert resolve_parameters([Parameter("a", type="integer", default=3)], {"a": None}) == {"a": 3}
    required = Parameter("target", required=True, description="Where")
    workflow = Workflow(
        "l0", "l1", "vbi", version="1.0.0", workflow_package="invalid_tasks", parameters=[required]
    )
    workflow.add_node(t.Good)
    param = to_dag(workflow).params.get_param("target")
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError, match="No value passed"):
        param.resolve()
    assert param.resolve("s3://bucket") == "s3://bucket"


def test_doc_ending_in_md_stays_text():
    class_doc = "See README.md"
    workflow = Workflow(
        "l0", "l1", "vbi", version="1.0.0", workflow_package="invalid_tasks", doc_md=class_doc
    )
    workflow.add_node(t.Good)
    assert to_dag(workflow).doc_md == class_doc + "\n"


def test_scheduled_workflow_with_start_date():
    from datetime import UTC, datetime

    workflow = Workflow(
        "l0", "l1", "vbi", version="1.0.0", workflow_package="invalid_tasks",
        schedule="0 3 * * *", start_date=datetime(2026, 1, 1, tzinfo=UTC), max_active_runs=2,
    )  # fmt: skip
    workflow.add_node(t.Good)
    dag = to_dag(workflow)
    assert dag.start_date == datetime(2026, 1, 1, tzinfo=UTC)
    assert dag.max_active_runs == 2
    assert dag.timetable.expression == "0 3 * * *"
