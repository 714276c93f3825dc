"""The run's identity and dates reach the task, and its parameters are resolved as Airflow
resolves them: in the generated operators' templates, in `run-task` and in RunContext."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sample_tasks
from conftest import option, run_cli, template_context

from processing_core import Parameter, RunContext, Workflow, WorkflowDefinitionError
from processing_core.airflow import to_dag
from processing_core.config import load_settings
from processing_core.definition.parameters import ParameterError

LOGICAL = datetime(2026, 11, 1, 6, tzinfo=UTC)
INTERVAL = (datetime(2026, 10, 31, 6, tzinfo=UTC), LOGICAL)
DECLARED = (
    Parameter("frames", type="integer", default=4, minimum=1),
    Parameter("mode", enum=["fast", "careful"], default="fast"),
    Parameter("note", default="{{ 7 * 7 }} {% raw %} {# x #}"),  # stays text, never Jinja
    Parameter("target", required=True),
)
IDENTITY = ("--workflow-name=w", "--workflow-version=1", "--task-id=reports_the_run")


def reporting_workflow() -> Workflow:
    workflow = Workflow("l0", "l1", "dates", version="1.0.0", workflow_package="sample_tasks",
                        parameters=DECLARED)  # fmt: skip
    workflow.add_node(sample_tasks.Echo, task_id="upstream")
    workflow.add_node(sample_tasks.ReportsTheRun, upstreams="upstream")
    return workflow


class TaskInstance:
    try_number = 1

    def xcom_pull(self, task_ids: str):
        return {"status": "success", "outputs": {"from": task_ids}}


def rendered_options(operator, **run) -> dict[str, str]:
    """run-task's options as Airflow renders them for a run (`run`: template_context's)."""
    operator.render_template_fields(template_context(TaskInstance(), {"target": "t"}, **run))
    if hasattr(operator, "template_spec"):  # SparkKubernetesOperator
        arguments = operator.template_spec["spark"]["spec"]["arguments"]
    elif hasattr(operator, "arguments"):  # KubernetesPodOperator
        arguments = operator.arguments
    else:  # the local target's BashOperator: the values travel in its environment
        return {
            name.removeprefix("PROCESSING_CORE_").lower().replace("_", "-"): value
            for name, value in operator.env.items()
            if name.startswith("PROCESSING_CORE_")
        } | {"declared-parameters": _declared_word(operator.bash_command)}
    names = ("logical-date", "data-interval-start", "data-interval-end", "run-type", "conf")
    return {name: option(arguments, name) for name in (*names, "declared-parameters")}


def _declared_word(command: str) -> str:
    import shlex

    (word,) = [w for w in shlex.split(command) if w.startswith("--declared-parameters=")]
    return word.split("=", 1)[1]


@pytest.mark.parametrize("target", ["kubernetes", "local"])
def test_a_scheduled_run_gives_its_dates_type_and_conf(target):
    dag = to_dag(reporting_workflow(), target, settings=load_settings())
    values = rendered_options(
        dag.get_task("reports_the_run"), logical_date=LOGICAL, data_interval=INTERVAL,
        run_type="scheduled", conf={"target": "t", "extra": [1, 2]},
    )  # fmt: skip
    assert values["logical-date"] == "2026-11-01T06:00:00+00:00"
    assert values["data-interval-start"] == "2026-10-31T06:00:00+00:00"
    assert values["data-interval-end"] == "2026-11-01T06:00:00+00:00"
    assert values["run-type"] == "scheduled"
    assert json.loads(values["conf"]) == {"target": "t", "extra": [1, 2]}
    # The declarations travel as JSON Airflow's rendering left alone (no Jinja ran).
    declared = json.loads(values["declared-parameters"])
    assert {"name": "note", "default": "{{ 7 * 7 }} {% raw %} {# x #}"} in declared
    assert [d["name"] for d in declared] == ["frames", "mode", "note", "target"]


def test_a_manual_run_without_a_logical_date_gives_empty_dates():
    # Airflow 3 leaves the date keys out of such a run's context; StrictUndefined must not fire.
    dag = to_dag(reporting_workflow(), settings=load_settings())
    values = rendered_options(dag.get_task("reports_the_run"), run_type="manual")
    assert values["logical-date"] == values["data-interval-start"] == ""
    assert values["run-type"] == "manual"
    assert values["conf"] == "{}"


def test_the_spark_target_renders_the_same_identity():
    workflow = Workflow("l0", "l1", "sparkdates", version="1.0.0",
                        workflow_package="sample_tasks", parameters=DECLARED[:1])  # fmt: skip
    workflow.add_node(sample_tasks.SparkCount)
    operator = to_dag(workflow, settings=load_settings()).get_task("spark_count")
    values = rendered_options(operator, logical_date=LOGICAL, data_interval=INTERVAL,
                              run_type="backfill")  # fmt: skip
    assert values["logical-date"] == "2026-11-01T06:00:00+00:00"
    assert values["run-type"] == "backfill"
    assert json.loads(values["declared-parameters"]) == [
        {"name": "frames", "type": "integer", "default": 4, "minimum": 1}
    ]


def run_reporting(*options: str):
    completed = run_cli("run-task", "sample_tasks:ReportsTheRun", *IDENTITY, "--result-path=-",
                        *options)  # fmt: skip
    result = json.loads(completed.stdout.splitlines()[-1])
    return completed, result


DECLARED_OPTION = "--declared-parameters=" + json.dumps([p.as_data() for p in DECLARED])


def test_run_task_applies_defaults_and_gives_the_task_its_dates():
    completed, result = run_reporting(
        '--parameters={"target": "archive", "extra": 1}', DECLARED_OPTION,
        "--logical-date=2026-11-01T06:00:00+00:00", "--data-interval-start=2026-10-31T06:00:00Z",
        "--data-interval-end=2026-11-01T06:00:00+00:00", "--run-type=scheduled",
        '--conf={"target": "archive"}',
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    outputs = result["outputs"]
    assert outputs["parameters"] == {
        "frames": 4, "mode": "fast", "note": "{{ 7 * 7 }} {% raw %} {# x #}",
        "target": "archive", "extra": 1,  # undeclared values are kept, as Airflow keeps them
    }  # fmt: skip
    assert outputs["logical_date"] == "2026-11-01T06:00:00+00:00"
    assert outputs["data_interval"] == ["2026-10-31T06:00:00+00:00", "2026-11-01T06:00:00+00:00"]
    assert outputs["run_type"] == "scheduled"
    assert outputs["conf"] == {"target": "archive"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (['--parameters={"target": "a", "frames": 0}'], "parameter 'frames': 0 does not fit"),
        (['--parameters={"target": "a", "mode": "slow"}'], "'slow' is not one of ['fast'"),
        (["--parameters={}"], "parameter 'target' is required and was not given"),
        (['--parameters={"target": "a"}', "--logical-date=yesterday"], "--logical-date"),
        (['--parameters={"target": "a"}', "--logical-date=2026-11-01T06:00:00"], "no time zone"),
        (['--parameters={"target": "a"}', "--conf=[1]"], "--conf must be a JSON object"),
        (
            ['--parameters={"target": "a"}', '--conf={"target": "a", "colour": "red"}'],
            "the run's conf holds ['colour'], which the workflow does not declare; its parameters "
            "are ['frames', 'mode', 'note', 'target']",
        ),
    ],
)
def test_run_task_refuses_parameters_and_dates_that_do_not_fit(options, expected):
    completed, result = run_reporting(DECLARED_OPTION, *options)
    assert completed.returncode == 2
    assert expected in result["message"]
    assert "Traceback" not in completed.stderr
    if expected.startswith("parameter"):
        assert "declared parameters: ['frames', 'mode', 'note', 'target']" in result["message"]


def test_run_task_refuses_a_broken_declaration():
    completed, result = run_reporting('--declared-parameters=[{"name": "x", "colour": "red"}]')
    assert completed.returncode == 2
    assert "a declared parameter must be an object with `name`" in result["message"]


def test_run_context_resolves_parameters_as_a_run_does():
    workflow = reporting_workflow()
    context = workflow.run_context(
        "reports_the_run", parameters={"target": "t"}, inputs={"upstream": {"n": 1}},
        logical_date=LOGICAL, run_type="scheduled",
    )  # fmt: skip
    assert dict(context.parameters) == {
        "frames": 4, "mode": "fast", "note": "{{ 7 * 7 }} {% raw %} {# x #}", "target": "t"
    }  # fmt: skip
    assert context.dag_id == "l0_to_l1_dates_1.0.0"
    with sample_tasks.ReportsTheRun(context) as task:
        task()
    assert task.outputs["logical_date"] == "2026-11-01T06:00:00+00:00"
    assert task.outputs["run_type"] == "scheduled"
    with sample_tasks.ReadsWhatIsNotThere(context) as reader, pytest.raises(KeyError) as raised:
        reader()
    assert str(raised.value) == (
        "parameter 'gain' is not declared by workflow 'l0_to_l1_dates'; its parameters are "
        "['frames', 'mode', 'note', 'target']"
    )


def test_run_context_names_what_does_not_fit():
    workflow = reporting_workflow()
    with pytest.raises(WorkflowDefinitionError, match=r"'frames': 0 does not fit.*declared"):
        workflow.run_context("reports_the_run", parameters={"target": "t", "frames": 0})
    with pytest.raises(WorkflowDefinitionError, match=r"inputs name \['ingest'\].*\['upstream'\]"):
        workflow.run_context("reports_the_run", parameters={"target": "t"}, inputs={"ingest": {}})
    with pytest.raises(WorkflowDefinitionError, match=r"task 'nope' is not in this workflow"):
        workflow.run_context("nope")
    with pytest.raises(ParameterError, match="'target' is required"):
        RunContext("w", "1", "t", declared_parameters=DECLARED)


def test_declarations_survive_their_json_form():
    for parameter in DECLARED:
        assert Parameter.from_data(json.loads(json.dumps(parameter.as_data()))) == parameter
