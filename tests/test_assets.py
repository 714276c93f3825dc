"""Assets: what a task produces becomes its operator's outlets (with the extra it reports),
a workflow runs on assets, and its tasks get the triggering events; bad declarations are
refused at build time, naming the asset and the fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import option, run_cli, template_context

from processing_core import (
    AllOf,
    Asset,
    AssetsOrCron,
    Parameter,
    TaskBase,
    Workflow,
    WorkflowDefinitionError,
)
from processing_core.airflow import to_dag
from processing_core.config import load_settings

IDENTITY = ("--workflow-name=w", "--workflow-version=1", "--task-id=t")
A = Asset("s3://vbi/l1", name="vbi_l1")
B = Asset("s3://vbi/quicklook", name="vbi_quicklook")


class Makes(TaskBase):
    produces = (A,)

    def run(self) -> None:
        pass


def workflow(*, schedule=None, produces=None, parameters=(), task=Makes) -> Workflow:
    flow = Workflow("raw", "l1", "assets", version="1.0.0", workflow_package="test_assets",
                    schedule=schedule, parameters=parameters)  # fmt: skip
    flow.add_node(task, produces=produces)
    return flow


def problems(flow: Workflow) -> str:
    return "\n".join(flow.problems(load_settings()))


@pytest.mark.parametrize(
    ("asset", "fragment"),
    [
        (Asset("no uri here"), "is not a URI; write scheme://place/path"),
        (Asset("airflow://x/y"), "the scheme 'airflow' is Airflow's own"),
        (Asset("s3://user:secret@bucket/x"), "holds user information"),
        (Asset("s3://bucket/x#part"), "#fragment"),
        (Asset("s3://bucket/a b"), "spaces or control characters"),
        (Asset("s3://bucket/{{ params.x }}", name="n"), "holds a Jinja marker"),
        (Asset("s3://bucket/{x.y}", name="n"), "must be a bare name"),
        (Asset("s3://bucket/{ds!r}", name="n"), "must be a bare name"),
        (Asset("s3://bucket/{ds", name="n"), "braces do not pair"),
        (Asset("s3://bucket/{ds}"), "needs a name"),
    ],
)
def test_a_bad_asset_is_refused_naming_it_and_the_fix(asset, fragment):
    # Where it is declared, when add_node is called: on the class or on the node.
    class Declares(Makes):
        produces = (asset,)

    with pytest.raises(WorkflowDefinitionError) as on_class:
        workflow(task=Declares)
    assert f"task 'declares': produces: asset {asset.key!r}: " in str(on_class.value)
    assert fragment in str(on_class.value)
    with pytest.raises(WorkflowDefinitionError) as on_node:
        workflow(produces=[asset])
    assert "add_node override: produces: asset" in str(on_node.value)
    assert fragment in str(on_node.value)


def test_a_placeholder_may_name_a_parameter_but_not_shadow_a_run_value():
    ok = workflow(produces=[Asset("s3://b/{label}/{ds}", name="n")],
                  parameters=[Parameter("label", default="x")])  # fmt: skip
    assert problems(ok) == ""
    shadow = workflow(produces=[Asset("s3://b/{ds}", name="n")],
                      parameters=[Parameter("ds", default="x")])  # fmt: skip
    assert "{ds} is both a parameter and the run's ds" in problems(shadow)
    unknown = workflow(produces=[Asset("s3://b/{nope}", name="n")])
    assert "placeholder {nope} is neither a parameter of the workflow nor one of the run's " \
        "values" in problems(unknown)  # fmt: skip


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        (["@daily", A], "mixes a list with assets"),
        ("@daily" | B, "is a string among assets; to run on a clock and on data, use AssetsOrCron"),
        (AllOf(), "needs at least one asset"),
        (AssetsOrCron("not cron", B), "is neither a cron expression"),
        (42, "AssetsOrCron(cron, assets)"),
    ],
)
def test_a_schedule_that_mixes_kinds_is_refused(schedule, fragment):
    flow = workflow(schedule=schedule)
    flow.start_date = datetime(2026, 1, 1, tzinfo=UTC)
    assert fragment in problems(flow)


def test_a_workflow_waiting_for_its_own_output_is_refused():
    assert "waits for asset 'vbi_l1', which its own task 'makes' produces" in problems(
        workflow(schedule=A | B)
    )


def test_one_name_for_two_uris_is_refused():
    other = Asset("s3://elsewhere", name="vbi_l1")
    assert "asset name 'vbi_l1' means 's3://vbi/l1' in task 'makes'" in problems(
        workflow(schedule=other)
    )


def test_produces_must_be_a_list_of_assets():
    class Broken(Makes):
        produces = A  # type: ignore[assignment]

    with pytest.raises(WorkflowDefinitionError, match="produces must be a list of Asset"):
        workflow(task=Broken)

    class Named(Makes):
        produces = ["file:///x"]  # type: ignore[list-item]

    with pytest.raises(WorkflowDefinitionError, match=r"'file:///x' is not an Asset; build one "
                       r"with Asset\(uri\)"):  # fmt: skip
        workflow(task=Named)


def test_a_uri_template_renders_each_value_as_one_piece():
    asset = Asset("s3://b/{ds}/{label}?v={n}", name="n")
    assert asset.render({"ds": "2026-11-22", "label": "a/b c?", "n": True}) == (
        "s3://b/2026-11-22/a%2Fb%20c%3F?v=true"
    )


def test_outlets_and_schedules_are_airflows_own(tmp_path):
    from airflow.sdk import Asset as AirflowAsset
    from airflow.sdk import AssetAlias, AssetAll, AssetAny
    from airflow.sdk.definitions.timetables.assets import AssetOrTimeSchedule

    daily = Asset("s3://vbi/l1/{ds}", name="vbi_l1_daily")
    producer = workflow(produces=[A, daily])
    dag = to_dag(producer, "kubernetes")
    assert dag.get_task("makes").outlets == [
        AirflowAsset(name="vbi_l1", uri="s3://vbi/l1", group="asset"),
        AssetAlias(name="vbi_l1_daily", group="asset"),
    ]
    on_both = Workflow("l1", "report", "assets", version="1.0.0", schedule=A & daily,
                       workflow_package="test_assets")  # fmt: skip
    on_both.add_node(Makes, produces=[B])
    timetable = to_dag(on_both, "local").timetable
    assert isinstance(timetable.asset_condition, AssetAll)
    either = Workflow("l1", "either", "assets", version="1.0.0", workflow_package="test_assets",
                      schedule=AssetsOrCron("0 6 * * *", A | B),
                      start_date=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    either.add_node(Makes, produces=[])
    timetable = to_dag(either, "kubernetes").timetable
    assert isinstance(timetable, AssetOrTimeSchedule)
    assert isinstance(timetable.asset_condition, AssetAny)
    assert timetable.timetable.expression == "0 6 * * *"


class TaskInstance:
    try_number = 1

    def xcom_pull(self, task_ids: str):
        return None


def consumed_event(name: str, uri: str, extra: dict, minute: int):
    from airflow.sdk.api.datamodels._generated import (
        AssetEventDagRunReference,
        AssetReferenceAssetEventDagRun,
    )

    return AssetEventDagRunReference(
        asset=AssetReferenceAssetEventDagRun(name=name, uri=uri, extra={}),
        extra=extra,
        source_task_id="publish",
        source_dag_id="l0_to_l1_vbi_1.0.0",
        source_run_id="manual__1",
        source_map_index=-1,
        source_aliases=[],
        timestamp=datetime(2026, 11, 22, 6, minute, tzinfo=UTC),
    )


@pytest.mark.parametrize("target", ["kubernetes", "local"])
def test_the_runs_asset_events_reach_the_task_bounded_and_jinja_safe(target):
    consumer = Workflow("l1", "report", "assets", version="1.0.0", schedule=A,
                        workflow_package="test_assets")  # fmt: skip
    consumer.add_node(Makes, produces=[B])
    dag = to_dag(consumer, target)
    operator = dag.get_task("makes")
    events = [consumed_event("vbi_l1", "s3://vbi/l1", {"n": i, "note": "{{ 7 * 7 }}"}, i % 60)
              for i in range(2000)]  # fmt: skip
    operator.render_template_fields(
        template_context(TaskInstance(), consumed_asset_events=events), dag.get_template_env()
    )
    if target == "local":
        rendered = operator.env["PROCESSING_CORE_ASSET_EVENTS"]
    else:
        rendered = option(operator.arguments, "asset-events")
    document = json.loads(rendered)
    assert "{{" not in rendered  # an extra's text never becomes a template
    assert document["events"][-1]["extra"]["note"] == "{{ 7 * 7 }}"
    assert len(rendered) < 40 * 1024  # far below Linux's 128 KiB for one argument
    assert document["omitted"] == 2000 - len(document["events"]) > 0
    assert document["events"][0]["source_dag_id"] == "l0_to_l1_vbi_1.0.0"


def test_run_task_gives_the_task_its_asset_events_and_refuses_broken_ones(tmp_path):
    events = {"events": [{"name": "vbi_l1", "uri": "s3://vbi/l1", "extra": {"rows": 3},
                          "timestamp": "2026-11-22T06:00:00+00:00", "source_dag_id": "d",
                          "source_run_id": "r", "source_task_id": "t"}], "omitted": 4}  # fmt: skip
    done = run_cli("run-task", "sample_tasks:ReportsAssetEvents", *IDENTITY,
                   "--asset-events", json.dumps(events), "--result-path", "-")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["outputs"] == {
        "events": [["vbi_l1", "s3://vbi/l1", {"rows": 3}, "d", "t"]], "omitted": 4
    }  # fmt: skip
    broken = run_cli("run-task", "sample_tasks:ReportsAssetEvents", *IDENTITY,
                     "--asset-events", '{"events": [{"uri": 1}]}')  # fmt: skip
    assert broken.returncode == 2
    assert "--asset-events: an asset event needs a string name and uri" in broken.stderr


def test_asset_extra_must_name_an_asset_the_node_produces():
    wrong = run_cli("run-task", "sample_tasks:ReportsExtra", *IDENTITY, "--result-path", "-",
                    "--parameters", json.dumps({"asset": "elsewhere"}))  # fmt: skip
    assert wrong.returncode == 1
    result = json.loads(wrong.stdout.splitlines()[-1])
    assert "ReportsExtra.asset_extra names ['elsewhere'], which the task does not produce; " \
        "its assets are ['sample_products']" in result["message"]  # fmt: skip
    # A node that produces other assets than its class says so to run-task.
    produced = json.dumps([{"name": "elsewhere", "uri": "s3://e/x", "group": "asset"}])
    right = run_cli("run-task", "sample_tasks:ReportsExtra", *IDENTITY, "--result-path", "-",
                    "--parameters", json.dumps({"asset": "elsewhere"}),
                    "--produces", produced)  # fmt: skip
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout.splitlines()[-1])["asset_extra"] == {"elsewhere": {"rows": 1}}


class Reports(TaskBase):
    produces = (A,)

    def run(self) -> None:
        self.asset_extra = {"vbi_l1": {"rows": len(self.asset_events)}}


def test_a_unit_test_gives_asset_events_and_checks_the_extra_as_a_run_does():
    from processing_core import AssetEvent
    from processing_core.testing import run_task

    event = AssetEvent(name="vbi_raw", uri="s3://vbi/raw", extra={"n": 1})
    result = run_task(Reports, asset_events=(event, event))
    assert result.asset_extra == {"vbi_l1": {"rows": 2}}
    # In a workflow whose node produces another asset, extra for vbi_l1 is refused.
    flow = workflow(task=Reports, produces=[B])
    with pytest.raises(ValueError, match=r"names \['vbi_l1'\], which the task does not produce"):
        run_task(Reports, workflow=flow)
