"""Whatever an author writes in names, tags, docs and defaults, the DAG file stays a DAG file.

Hostile text either is rejected with a WorkflowDefinitionError, or comes back from the
generated file as exactly the same value: never code, Jinja or a broken file.
"""

from __future__ import annotations

import ast
import json
import re
from datetime import timedelta

import sample_tasks
from conftest import option, template_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processing_core import Deadline, Parameter, Workflow, WorkflowDefinitionError
from processing_core.config import load_settings
from processing_core.nodes.dag import ExportOptions, build_dag_spec
from processing_core.render.dag_file import render_dag_file

HOSTILE = [
    "'", '"', "'''", '"""', "\\", "\\'", "\n", "\r\n", "\x00", "\u2028", "\u202e", "{{ 7 * 7 }}",
    "{% for x in range(3) %}x{% endfor %}", "{# c #}", "$(rm -rf /)", "`id`", "; import os",
    "')\nimport os\nos.system('id')\n#", "\"\"\"+__import__('os').system('id')+\"\"\"",
    "/etc/passwd.md", "é€𝔘😀", "\t", "#", "\\N{BULLET}", "\\x41", "{params}", "%s%(x)s",
]  # fmt: skip
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=4).map("".join),
    st.text(min_size=1, max_size=40),
)
ALLOWED_CALLS = {
    "DAG", "Param", "PodTask", "LocalTask", "SparkApplicationTask", "ForeachItems", "Configuration",
    "timedelta", "Secret", "StatusCallback", "ResultHook", "RunValuesHook", "PodIdentityGuard",
    "SparkSubmitTask", "DeadlineAlert", "AsyncCallback",
    "V1EnvVar", "V1EnvVarSource", "V1ObjectFieldSelector", "V1ResourceRequirements",
}  # fmt: skip


def render(workflow: Workflow, target: str) -> str:
    options = ExportOptions.create(target=target, settings=load_settings())
    return render_dag_file(build_dag_spec(workflow, options), "0.0.0")


def assert_only_expected_code(source: str) -> None:
    tree = ast.parse(source)
    # One statement may name an attribute: `dag.params = {...}` after the tasks
    # (render.dag_file.PARAMS_COMMENT), its value a dict of Param calls.
    params_targets = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
            target = node.targets[0]
            assert isinstance(target.value, ast.Name) and target.value.id == "dag", ast.dump(node)
            assert target.attr == "params" and len(node.targets) == 1, ast.dump(node)
            assert isinstance(node.value, ast.Dict), ast.dump(node)
            assert all(
                isinstance(value, ast.Call) and getattr(value.func, "id", "") == "Param"
                for value in node.value.values
            ), ast.dump(node)
            params_targets.append(target)
    assert len(params_targets) <= 1
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in ALLOWED_CALLS, ast.dump(node)
        if node in params_targets or node in _deadline_references(tree):
            continue
        assert not isinstance(node, ast.Attribute | ast.Subscript | ast.Lambda | ast.JoinedStr)
    top = [type(node).__name__ for node in tree.body]
    assert set(top) <= {"ImportFrom", "Assign", "With"}, top
    # Module constants (shared objects) are a name bound to a call of an allowed constructor.
    for node in tree.body:
        if isinstance(node, ast.Assign) and not isinstance(node.targets[0], ast.Attribute):
            assert [type(target) for target in node.targets] == [ast.Name], ast.dump(node)
            assert isinstance(node.value, ast.Call), ast.dump(node)


def _deadline_references(tree: ast.Module) -> list[ast.Attribute]:
    """The attributes a deadline names: `DeadlineReference.DAGRUN_QUEUED_AT` or
    `DeadlineReference.DAGRUN_LOGICAL_DATE`, Airflow's constants (nodes/deadline.py)."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "DeadlineReference"
        and node.attr in ("DAGRUN_QUEUED_AT", "DAGRUN_LOGICAL_DATE")
    ]


def load(source: str):
    namespace: dict = {}
    exec(compile(source, "<generated dag>", "exec"), namespace)  # what Airflow's parser does
    return namespace["dag"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=hostile_text,
    tag=hostile_text,
    default=st.one_of(hostile_text, st.lists(hostile_text, max_size=3)),
    target=st.sampled_from(["kubernetes", "local"]),
)
def test_docs_tags_and_defaults_round_trip_exactly(text, tag, default, target):
    is_list = isinstance(default, list)
    try:
        workflow = Workflow(
            "l0", "l1", "vbi", version="1.0.0", workflow_package="sample_tasks",
            description=text, doc_md=text, tags=[tag],
            parameters=[Parameter("note", type="array" if is_list else "string", default=default,
                                  description=text, title=text)],
        )  # fmt: skip
        workflow.add_node(sample_tasks.Echo)
        source = render(workflow, target)
    except WorkflowDefinitionError as error:
        # Only tags may be refused (blank or over 100 characters), and then by name.
        assert "tag " in str(error)
        assert not tag.strip() or len(tag) > 100
        return
    assert_only_expected_code(source)
    dag = load(source)
    assert dag.description == text
    assert dag.doc_md in (text, text + "\n")
    assert tag in dag.tags
    param = dag.params.get_param("note")
    assert param.value == default
    assert param.schema["description_md"] == text
    assert param.schema["title"] == text
    # The value a run receives: Jinja's tojson of the params, read back by the entrypoint.
    task = dag.get_task("echo")

    class TaskInstance:
        try_number = 1

    task.render_template_fields(template_context(TaskInstance(), {"note": default}, run_id="r"))
    rendered = task.arguments if target == "kubernetes" else task.env
    if target == "kubernetes":
        value = option(rendered, "parameters")
    else:
        value = rendered["PROCESSING_CORE_PARAMETERS"]
    assert json.loads(value) == {"note": default}


@settings(max_examples=40, deadline=None)
@given(name=hostile_text, target=st.sampled_from(["kubernetes", "local"]))
def test_a_deadline_name_is_refused_by_name_or_comes_back_exactly(name, target):
    try:
        workflow = Workflow(
            "l0", "l1", "vbi", version="1.0.0", workflow_package="sample_tasks",
            deadline=Deadline(timedelta(hours=1), since="logical_date", name=name),
        )  # fmt: skip
        workflow.add_node(sample_tasks.Echo)
        source = render(workflow, target)
    except WorkflowDefinitionError as error:
        assert "deadline name" in str(error)
        assert not name.strip() or len(name) > 250 or not name.isprintable()
        return
    assert_only_expected_code(source)
    (alert,) = load(source).deadline
    assert alert.name == alert.callback.kwargs["deadline_name"] == name


@settings(max_examples=60, deadline=None)
@given(name=hostile_text, task_id=hostile_text)
def test_hostile_names_are_rejected_by_name_never_rendered(name, task_id):
    try:
        workflow = Workflow("l0", name, "vbi", version="1.0.0", workflow_package="sample_tasks")
    except WorkflowDefinitionError as error:
        assert "output_data=" in str(error)
    else:
        # Letters and digits with single `_` or `-` between them (naming.NAME_PART_RE).
        assert re.fullmatch(r"[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*", name), name
    workflow = Workflow("l0", "l1", "vbi", version="1.0.0", workflow_package="sample_tasks")
    try:
        workflow.add_node(sample_tasks.Echo, task_id=task_id)
    except WorkflowDefinitionError as error:
        assert f"task id {task_id!r}" in str(error) or "task id is" in str(error)
    else:
        source = render(workflow, "local")
        assert_only_expected_code(source)
        assert load(source).task_ids == [task_id]


@settings(max_examples=40, deadline=None)
@given(version=hostile_text)
def test_hostile_versions_are_rejected_or_safe(version):
    workflow = Workflow("l0", "l1", "vbi", version=version, workflow_package="sample_tasks")
    workflow.add_node(sample_tasks.Echo)
    try:
        source = render(workflow, "kubernetes")
    except WorkflowDefinitionError as error:
        assert "cannot be an image tag" in str(error)
        return
    assert_only_expected_code(source)
    assert load(source).dag_id == f"l0_to_l1_vbi_{version.replace('+', '-')}"


@settings(max_examples=40, deadline=None)
@given(value=hostile_text, suffix=st.sampled_from(["", ".json", ".yaml", "yml", ".sh"]))
def test_spark_conf_and_annotation_values_survive_file_and_templating(value, suffix):
    from processing_core import SparkResources, SparkTaskBase

    text = value + suffix
    resources = SparkResources(spark_conf={"spark.x": text}, executor_annotations={"a/b": text})
    task = type(
        "Hostile", (SparkTaskBase,), {"spark_resources": resources, "run": lambda self: None}
    )
    task.__module__ = "sample_tasks"
    workflow = Workflow("l0", "l1", "vbi", version="1.0.0", workflow_package="sample_tasks")
    try:
        workflow.add_node(task)
        source = render(workflow, "kubernetes")
    except WorkflowDefinitionError as error:
        assert "Jinja marker" in str(error) or "is not a pair" in str(error)
        assert any(mark in text for mark in ("{{", "{%", "{#")) or not text
        return
    assert_only_expected_code(source)
    operator = load(source).get_task("hostile")

    class TaskInstance:
        try_number = 1

    operator.render_template_fields(template_context(TaskInstance(), run_id="r"))
    spec = operator.template_spec["spark"]["spec"]
    assert spec["sparkConf"] == {"spark.x": text}
    assert spec["executor"]["annotations"]["a/b"] == text
