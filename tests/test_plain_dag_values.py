"""DAG files never trust repr(): only exact built-in values are written, and author strings in
module paths and settings can never become templates."""

from __future__ import annotations

import ast
import math
import re

import pytest
from conftest import load_dagbag, run_cli

from processing_core import Parameter, TaskBase, Workflow, WorkflowDefinitionError
from processing_core.config import load_settings
from processing_core.errors import SettingsError


def test_enums_numpy_scalars_and_str_subclasses_become_plain_literals(tmp_path):
    marker = tmp_path / "marker"
    completed = run_cli("export", "hostile_values", "--out", str(tmp_path / "dags"),
                        HOSTILE_MARKER=str(marker))  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    (path,) = (tmp_path / "dags").glob("*.py")
    source = path.read_text()
    tree = ast.parse(source)  # it parses ...
    calls = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    assert "__import__" not in source and "Path" not in calls
    assert "'imaging'" in source and "retries=3" in source.replace(" ", "")
    assert "default=1.5" in source and "Tag." not in source and "numpy" not in source
    bag = load_dagbag(tmp_path / "dags")  # ... and loads, running no author code
    assert bag.import_errors == {}
    dag = bag.dags["l0_to_l1_hostile_1.0.0"]
    assert dag.params["gain"] == 1.5 and type(dag.params["gain"]) is float
    assert dag.owner == "imaging" and dag.tasks[0].retries == 3
    assert dag.params["label"] == "plain label"
    assert not marker.exists()


def test_the_notebooks_parameters_cell_holds_only_literals(tmp_path):
    """A default whose repr() is code is written as its plain value: running the notebook's
    setup cell (in a real interpreter) runs none of the author's repr."""
    import json
    import subprocess
    import sys

    import nbformat
    from conftest import subprocess_env

    marker = tmp_path / "marker"
    completed = run_cli("notebook", "hostile_values", "--out", str(tmp_path / "notebooks"),
                        HOSTILE_MARKER=str(marker))  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    (path,) = (tmp_path / "notebooks").glob("*.ipynb")
    setup = next(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert "__import__" not in setup
    shown = subprocess.run(
        [sys.executable, "-c", setup + "\nimport json; print(json.dumps(PARAMETERS))"],
        env=subprocess_env(HOSTILE_MARKER=str(marker)), capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"gain": 1.5, "mode": "imaging", "count": 3,
                                        "label": "plain label"}  # fmt: skip
    assert not marker.exists()


class Opaque:
    pass


def make_task(**attributes) -> type[TaskBase]:
    return type(
        "Step", (TaskBase,), {"run": lambda self: None, "__module__": __name__, **attributes}
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda w: w.add_node(make_task(__module__="pipe{{ 7 * 7 }}line")), "cannot import"),
        (
            lambda w: w.add_node(make_task(retry_exponential_backoff=math.nan)),
            "retry_exponential_backoff is nan",
        ),
        (
            lambda w: w.add_node(make_task(retry_exponential_backoff=b"2")),
            "retry_exponential_backoff is b'2'",
        ),
    ],
)
def test_task_declarations_that_cannot_be_written_are_refused(build, message):
    workflow = Workflow(input_data="a", output_data="b", category="c", version="1.0.0")
    with pytest.raises(WorkflowDefinitionError) as raised:
        build(workflow)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        (Parameter("p", type="number", enum=[1.0, math.nan]), "enum value nan is not JSON"),
        (Parameter("p", type="string", enum=[b"raw"]), "enum value b'raw' is not JSON"),
        (Parameter("p", type="number", minimum=math.inf), "minimum inf must be a finite number"),
        (Parameter("p", type="number", maximum="10"), "maximum '10' must be a finite number"),
        (Parameter("p", type="array", default=[]), None),
    ],
)
def test_parameter_enums_and_bounds_must_be_plain_json(parameter, message):
    problems = parameter.problems()
    if message is None:
        assert problems == []
    else:
        assert any(message in problem for problem in problems), problems


def test_a_default_nested_thousands_deep_is_refused_with_a_message():
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    problems = Parameter("p", type="array", default=nested).problems()
    assert problems == ["parameter 'p': default is nested more than 32 levels deep; flatten it"]


def test_the_renderer_refuses_what_is_no_exact_builtin_whatever_validation_missed():
    # Validation refuses these earlier; the renderer must hold on its own all the same.
    from processing_core.nodes.spec import plain_data
    from processing_core.render.literal import ImportTable, to_source

    with pytest.raises(
        ValueError, match=re.escape("argument 'x'['k'][0]: a test_plain_dag_values.Opaque cannot")
    ):
        plain_data({"k": [Opaque()]}, "argument 'x'")
    # The path through calls' keywords and lists, as an author would write it.
    from processing_core.nodes.spec import Call

    inner = Call("m:g", kwargs={"value": Opaque()})
    with pytest.raises(ValueError, match=re.escape("argument 'x'.env[1].value: a test_plain")):
        plain_data(Call("m:f", kwargs={"env": [Call("m:g"), inner]}), "argument 'x'")
    with pytest.raises(ValueError, match=re.escape("argument 'x'['a']: key 1 is not a string")):
        plain_data({"a": {1: "one"}}, "argument 'x'")
    with pytest.raises(ValueError, match="nested more than 32 levels"):
        deep: list = []
        for _ in range(40):
            deep = [deep]
        plain_data(deep, "x")

    class Shouty(str):
        def __repr__(self) -> str:
            return "__import__('os').system('true')"

    assert type(plain_data(Shouty("a"), "x")) is str
    with pytest.raises(ValueError, match="Shouty cannot be written"):
        to_source(Shouty("a"), ImportTable())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"gpu": {"pool": "{{ var.value.secret }}"}}', "Jinja marker"),
        ('{"gpu": {"node_selector": {"a": "{% raw %}"}}}', "Jinja marker"),
        ('{"gpu": {"tolerations": [{"tolerationSeconds": NaN}]}}', "use a finite number"),
    ],
)
def test_resource_profiles_hold_no_templates_and_no_nan(monkeypatch, value, message):
    monkeypatch.setenv("RESOURCE_PROFILES", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "RESOURCE_PROFILES" in str(raised.value) and message in str(raised.value)


def test_loguru_level_is_accepted_in_any_case(monkeypatch):
    monkeypatch.setenv("LOGURU_LEVEL", "debug")
    assert load_settings().loguru_level == "DEBUG"
    assert run_cli("settings", LOGURU_LEVEL="warning").returncode == 0
