"""Mistakes that used to pass without a word, each now said at the earliest moment: a
Jinja-looking parameter default (build time), a secret variable missing in a local run, a
failed task's outputs (bounded), and an upstream that gave no such output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from test_run_task import run_task

from processing_core import Parameter, TaskBase, Workflow
from processing_core.runtime.entrypoint import KEPT_ON_FAILURE


class Extract(TaskBase):
    def run(self) -> None:
        pass


@pytest.mark.parametrize("default", ["{{ ds }}", "s3://bucket/{{ ds_nodash }}/", ["{% if x %}"]])
def test_a_jinja_looking_default_is_warned_of_at_validate_export_and_run(tmp_path, default):
    kind = "array" if isinstance(default, list) else "string"
    workflow = Workflow("raw", "daily", "etl", version="1.0.0", workflow_package="x",
                        parameters=[Parameter("run_date", type=kind, default=default)])  # fmt: skip
    workflow.add_node(Extract)
    (warning,) = workflow.warnings()
    assert warning.startswith("parameter 'run_date': default ")
    assert "looks like a Jinja template" in warning and "self.logical_date" in warning
    workflow.validate(version="1.0.0")  # a literal text can be meant: not an error
    # A plain default with braces of another kind draws no warning.
    plain = Workflow("raw", "daily", "etl", version="1.0.0", workflow_package="x",
                     parameters=[Parameter("pattern", default="{frame}.fits")])  # fmt: skip
    assert plain.warnings() == []


@pytest.mark.slow
def test_the_commands_print_the_warning_once_per_workflow(tmp_path):
    package = tmp_path / "jinja_default_pipeline"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from processing_core import Parameter, TaskBase, Workflow\n"
        "class Extract(TaskBase):\n"
        "    def run(self):\n"
        "        self.outputs = {'run_date': self.parameters['run_date']}\n"
        "daily = Workflow('raw', 'daily', 'etl', version='1.0.0',\n"
        "                 parameters=[Parameter('run_date', default='{{ ds }}')])\n"
        "daily.add_node(Extract)\n"
    )
    warning = ("warning: raw_to_daily_etl_1.0.0: parameter 'run_date': default '{{ ds }}' "
               "looks like a Jinja template")  # fmt: skip
    env = {"PYTHONPATH": str(tmp_path)}
    validated = run_cli("validate", "jinja_default_pipeline", cwd=tmp_path, **env)
    exported = run_cli("export", "jinja_default_pipeline", "--out", str(tmp_path / "dags"),
                       cwd=tmp_path, **env)  # fmt: skip
    for completed in (validated, exported):
        assert completed.returncode == 0, completed.stderr
        assert completed.stderr.count(warning) == 1, completed.stderr
    ran = run_cli("run", "jinja_default_pipeline", "--json", cwd=tmp_path, **env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.count("warning: raw_to_daily_etl: parameter 'run_date'") == 1
    # What the warning says: the run gets the text itself.
    (entry,) = json.loads(ran.stdout)["runs"]
    assert entry["tasks"]["extract"]["result"]["outputs"] == {"run_date": "{{ ds }}"}


def test_a_dag_file_with_such_a_default_from_an_earlier_release_still_runs(tmp_path):
    # The check is a build-time one: run-task takes the declaration as the DAG file passes it.
    declared = json.dumps([{"name": "run_date", "default": "{{ ds }}"}])
    result = tmp_path / "result.json"
    completed = run_task("sample_tasks:Echo", "--declared-parameters", declared,
                         "--result-path", str(result))  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert json.loads(result.read_text())["outputs"]["parameters"] == {"run_date": "{{ ds }}"}


def test_an_output_the_upstream_did_not_give_names_what_it_gave(tmp_path):
    result = tmp_path / "result.json"
    for inputs, said in [
        ({"clean": None}, "upstream task 'clean' gave no output 'rows' (it recorded no "
                          "outputs: did it run?); its outputs are []"),
        ({"clean": {"status": "success", "outputs": {"row_count": 3}}},
         "upstream task 'clean' gave no output 'rows'; its outputs are ['row_count']"),
    ]:  # fmt: skip
        completed = run_task("sample_tasks:ReadsCleanRows", "--inputs", json.dumps(inputs),
                             "--result-path", str(result))  # fmt: skip
        assert completed.returncode == 1
        message = json.loads(result.read_text())["message"]
        assert message == f"NameNotFoundError: {said}", message


@pytest.mark.parametrize("size", [100, KEPT_ON_FAILURE + 1])
def test_a_failed_result_keeps_small_outputs_and_drops_large_ones(tmp_path, size):
    result = tmp_path / "result.json"
    completed = run_task("sample_tasks:FailsHalfway", "--parameters", json.dumps({"size": size}),
                         "--result-path", str(result))  # fmt: skip
    assert completed.returncode == 1
    document = json.loads(result.read_text())
    assert document["message"] == "RuntimeError: frame 4 is corrupt"
    assert document["metrics"] == {"frames_done": 3}
    if size < KEPT_ON_FAILURE:
        assert document["outputs"] == {"partial": "x" * size}
        assert "were left out" not in completed.stderr
    else:
        assert document["outputs"] == {}
        assert len(result.read_text()) < 2000
        assert f"keeps at most {KEPT_ON_FAILURE} bytes" in completed.stderr
        assert "bytes were left out" in completed.stderr


@pytest.mark.slow
def test_a_local_run_says_which_secret_variable_a_task_lacks_and_never_its_value(tmp_path):
    def run(**env: str):
        return run_cli("run", "secret_pipeline", "--run-dir", str(tmp_path / "runs"), "--json",
                       cwd=tmp_path, **env)  # fmt: skip

    lacking = run()
    assert lacking.returncode == 0, lacking.stderr
    assert (
        "warning: task 'publish' reads PC_TEST_API_TOKEN (Secret 'api-credentials', key "
        "'token', in a pod), which is not set here" in lacking.stderr
    )
    (entry,) = json.loads(lacking.stdout)["runs"]
    log = (Path(entry["folder"]) / "publish" / "log").read_text()
    assert "declares secret variable(s) ['PC_TEST_API_TOKEN']" in log  # run-task says it too
    assert entry["tasks"]["publish"]["result"]["outputs"] == {"had_token": False}

    canary = "canary-4b1d-not-for-logs"
    having = run(PC_TEST_API_TOKEN=canary)
    assert having.returncode == 0, having.stderr
    assert "PC_TEST_API_TOKEN" not in having.stderr
    (entry,) = json.loads(having.stdout)["runs"]
    assert entry["tasks"]["publish"]["result"]["outputs"] == {"had_token": True}
    folder = Path(entry["folder"])
    for path in [*folder.rglob("*"), tmp_path]:
        if path.is_file():
            assert canary not in path.read_text(errors="replace"), path
    assert canary not in having.stdout + having.stderr


def test_a_parameter_without_a_type_takes_its_defaults_in_airflows_trigger_form():
    from processing_core.airflow.dag import to_dag
    from processing_core.definition.parameters import parameters_from_data

    declared = [
        Parameter("rows", default=10), Parameter("ratio", default=0.5),
        Parameter("dry_run", default=False), Parameter("bands", default=["r", "g"]),
        Parameter("options", default={"a": 1}), Parameter("label", default="vbi"),
        Parameter("note"),
    ]  # fmt: skip
    workflow = Workflow("raw", "typed", "etl", version="1.0.0", workflow_package="x",
                        parameters=declared)  # fmt: skip
    workflow.add_node(Extract)
    params = to_dag(workflow, "local").params
    types = {name: params.get_param(name).schema["type"][0] for name in params}
    assert types == {
        "rows": "integer", "ratio": "number", "dry_run": "boolean", "bands": "array",
        "options": "object", "label": "string", "note": "string",
    }  # fmt: skip
    # Airflow checks a triggered value against it: a text for `rows` is refused.
    with pytest.raises(ValueError, match="'ten' is not of type 'integer'"):
        params.get_param("rows").resolve("ten")
    # run-task reads the declaration the DAG file passes back to the same types.
    data = [parameter.as_data() for parameter in declared]
    assert [parameter.type for parameter in parameters_from_data(data)] == list(types.values())
    assert "type" not in Parameter("label", default="vbi").as_data()  # as earlier files had it
