"""Bad workflow definitions fail at add_node or export, naming the culprit and the fix."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import invalid_tasks as t
import pytest
from conftest import run_cli

from processing_core import Parameter, Workflow, WorkflowDefinitionError
from processing_core.build_utils import export_workflows
from processing_core.config import load_settings
from processing_core.errors import ExportError
from processing_core.nodes.dag import ExportOptions


def workflow(**kwargs) -> Workflow:
    kwargs.setdefault("version", "1.0.0")
    kwargs.setdefault("workflow_package", "invalid_tasks")
    return Workflow("l0", "l1", "vbi", **kwargs)


def check(wf: Workflow) -> None:
    wf.validate(load_settings())


# Each case builds a workflow and validates it; the error must contain every fragment.
def _not_a_class(wf):
    wf.add_node(t.Good(None))


def _not_a_task(wf):
    wf.add_node(dict)


def _no_run(wf):
    wf.add_node(t.NoRun)


def _unknown_upstream_id(wf):
    wf.add_node(t.Good, upstreams="ingest")
    check(wf)


def _unknown_upstream_class(wf):
    wf.add_node(t.Good, upstreams=t.Other)
    check(wf)


def _duplicate_task_id(wf):
    wf.add_node(t.Good)
    wf.add_node(t.Good)


def _cycle(wf):
    wf.add_node(t.Good, upstreams="other")
    wf.add_node(t.Other, upstreams="good")
    check(wf)


def _self_loop(wf):
    wf.add_node(t.Good, upstreams="good")
    check(wf)


def _empty(wf):
    check(wf)


def _ambiguous_upstream(wf):
    wf.add_node(t.Good, task_id="first")
    wf.add_node(t.Good, task_id="second")
    wf.add_node(t.Other, upstreams=t.Good)
    check(wf)


def _bad_upstream_type(wf):
    wf.add_node(t.Good, upstreams=[42])


def _bad_task_id(wf):
    wf.add_node(t.Good, task_id="calibrate-frames")


def _pod_name_too_long(wf):
    wf.add_node(t.Good, task_id="c" * 60)


def _local_class(wf):
    wf.add_node(t.make_local_class())


def _add(cls):
    def build(wf):
        wf.add_node(cls)
        check(wf)

    build.__name__ = cls.__name__
    return build


def _bad_param(**kwargs):
    def build(_wf):
        wf = workflow(parameters=[Parameter(**kwargs)])
        wf.add_node(t.Good)
        check(wf)

    return build


def _dag_level(**kwargs):
    def build(_wf):
        wf = workflow(**kwargs)
        wf.add_node(t.Good)
        check(wf)

    return build


def _name_part(_wf):
    Workflow("l0", "l1 calibrated", "vbi")


def _version(version):
    def build(_wf):
        wf = Workflow("l0", "l1", "vbi", version=version, workflow_package="invalid_tasks")
        wf.add_node(t.Good)
        check(wf)

    return build


def _long_detail(_wf):
    wf = Workflow("l0", "l1", "vbi", "x" * 240, version="1.0.0", workflow_package="invalid_tasks")
    wf.add_node(t.Good)
    check(wf)


def _label_too_long(_wf):
    wf = Workflow("l0", "l1", "vbi", "y" * 60, version="1.0.0", workflow_package="invalid_tasks")
    wf.add_node(t.Good)
    check(wf)


def _no_version(_wf):
    wf = Workflow("l0", "l1", "vbi", workflow_package="not_an_installed_package")
    wf.add_node(t.Good)
    check(wf)


CASES = [
    (_not_a_class, ["l0_to_l1_vbi", "an instance", "not a TaskBase subclass", "pass the class"]),
    (_not_a_task, ["l0_to_l1_vbi", "<class 'dict'>", "not a TaskBase subclass"]),
    (_no_run, ["task 'no_run'", "NoRun does not implement run()", "def run(self)"]),
    (_unknown_upstream_id, ["task 'good' lists upstream 'ingest'", "not in this workflow"]),
    (_unknown_upstream_class, ["upstream 'Other'", "add it with add_node(Other)"]),
    (_duplicate_task_id, ["task id 'good' is already used by Good", "pass task_id="]),
    (_cycle, ["tasks form a cycle: ", "good -> other -> good", "remove one"]),
    (_self_loop, ["tasks form a cycle: good -> good"]),
    (_empty, ["has no tasks", "add_node"]),
    (_ambiguous_upstream, ["upstream 'Good'", "2 times", "['first', 'second']", "task id"]),
    (_bad_upstream_type, ["upstream 42 is neither a TaskBase subclass nor a task id"]),
    (_bad_task_id, ["task id 'calibrate-frames' is not valid", "letters, digits and '_'"]),
    (_pod_name_too_long, ["pod name", "60 characters", "pass a shorter task_id"]),
    (_local_class, ["<locals>", "define it at module level"]),
    (_add(t.BadCpu), ["task 'bad_cpu'", "resources.cpu_request", "'lots' is not a Kubernetes quantity", "'500m'"]),
    (_add(t.ZeroMemory), ["resources.memory_request is '0Mi'", "greater than zero"]),
    (_add(t.LimitBelowRequest), ["memory_limit ('2Gi') is below", "memory_request ('4Gi')"]),
    (_add(t.NegativeGpus), ["resources.gpus is -1"]),
    (_add(t.UnknownUnit), ["'2GB' is not a Kubernetes quantity", "'2Gi'"]),
    (_add(t.ResourcesDict), ["resources is {'cpu': '1'}", "Resources(cpu_request="]),
    (_add(t.SecretValue), ["secrets['DB_PASSWORD'] must be SecretRef", "never the value"]),
    (_add(t.BadSecretName), ["Secret name 'My_Secret' is not a Kubernetes object name"]),
    (_add(t.BadSecretVariable), ["'1TOKEN' is not an environment variable name"]),
    (_add(t.ReservedSecretVariable), ["'POD_NAME' is set by processing-core"]),
    (_add(t.NegativeRetries), ["task 'negative_retries'", "retries is -1", ">= 0"]),
    (_add(t.IntRetryDelay), ["retry_delay is 30", "datetime.timedelta"]),
    (_add(t.ZeroTimeout), ["execution_timeout is zero"]),
    (_add(t.ZeroStartupTimeout), ["startup_timeout is zero"]),
    (_add(t.NegativeBackoff), ["retry_exponential_backoff is -2"]),
    (_add(t.UnknownProfile), ["task 'unknown_profile'", "'huge_memory' is unknown", "RESOURCE_PROFILES"]),
    (_bad_param(name="seed", type="int"), ["parameter 'seed'", "type 'int' is unknown", "'integer'"]),
    (_bad_param(name="seed", type="integer", default="seven"), ["default 'seven' does not match its type 'integer'"]),
    (_bad_param(name="dark level"), ["parameter 'dark level'", "name must start with a letter"]),
    (_bad_param(name="tags", type="array", default={1, 2}), ["default set is not JSON"]),
    (_bad_param(name="n", type="number", default=float("nan")), ["is not JSON", "no NaN"]),
    (_bad_param(name="n", type="integer", default=5, maximum=3), ["5 is greater than the maximum of 3"]),
    (_dag_level(parameters=[Parameter("a"), Parameter("a")]), ["parameter 'a' is declared twice"]),
    (_dag_level(schedule="every day"), ["schedule 'every day' is neither a cron expression"]),
    (_dag_level(schedule="@daily"), ["needs a start_date"]),
    (_dag_level(schedule="0 3 * * *", start_date=datetime(2026, 1, 1)), ["start_date has no time zone"]),
    (
        _dag_level(schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=UTC),
                   parameters=[Parameter("target", required=True)]),
        ["parameter 'target' is required without a default", "scheduled runs"],
    ),
    (_dag_level(tags=["x" * 101]), ["tag 'xxx", "at most 100 characters"]),
    (_dag_level(max_active_runs=0), ["max_active_runs 0 must be a whole number >= 1"]),
    (_dag_level(doc_md=["not", "text"]), ["doc_md must be a string, not list"]),
    (_name_part, ["output_data='l1 calibrated'", "are not valid"]),
    (_version("1.0/beta"), ["version '1.0/beta' cannot be an image tag", "PEP 440"]),
    (_version("1.0\n; import os"), ["cannot be an image tag"]),
    (_long_detail, ["dag_id 'l0_to_l1_vbi_xxx", "longer than Airflow's 250"]),
    (_label_too_long, ["workflow name", "as a Kubernetes label value", "limit is 63"]),
    (_no_version, ["no version", "pass --version to export, set BUILD_VERSION"]),
]  # fmt: skip


@pytest.mark.parametrize(("build", "fragments"), CASES, ids=[c[0].__name__ for c in CASES])
def test_invalid_definition_is_rejected_with_a_message_naming_the_culprit(build, fragments):
    with pytest.raises(WorkflowDefinitionError) as caught:
        build(workflow())
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Workflow " in message


def test_there_are_at_least_25_distinct_cases():
    assert len({build.__name__ + repr(f) for build, f in CASES}) >= 25


def test_failed_export_leaves_the_output_folder_untouched(tmp_path: Path):
    out = tmp_path / "dags"
    out.mkdir()
    (out / "existing_1.0.0.py").write_text("# an earlier version\n")
    good = workflow()
    good.add_node(t.Good)
    bad = Workflow("l0", "l2", "vbi", version="1.0.0", workflow_package="invalid_tasks")
    bad.add_node(t.UnknownProfile)
    options = ExportOptions.create(settings=load_settings())
    with pytest.raises(ExportError) as caught:
        export_workflows([good, bad], out, options)
    assert "'huge_memory' is unknown" in str(caught.value)
    assert sorted(p.name for p in out.iterdir()) == ["existing_1.0.0.py"]
    assert (out / "existing_1.0.0.py").read_text() == "# an earlier version\n"


BAD_PACKAGE = {
    "__init__.py": "",
    "good.py": """
        from processing_core import Workflow
        from invalid_tasks import Good
        ok = Workflow("a", "b", "good", version="1.0.0")
        ok.add_node(Good)
    """,
    "broken.py": """
        from processing_core import Workflow
        from invalid_tasks import Good, Other
        empty = Workflow("a", "b", "empty", version="1.0.0")
        loop = Workflow("a", "b", "loop", version="1.0.0")
        loop.add_node(Good, upstreams="other")
        loop.add_node(Other, upstreams="good")
    """,
    "_private.py": "raise RuntimeError('private modules are not imported')",
}


def test_cli_export_lists_every_invalid_workflow_and_writes_nothing(tmp_path: Path):
    package = tmp_path / "badpipe"
    package.mkdir()
    for name, text in BAD_PACKAGE.items():
        (package / name).write_text(textwrap.dedent(text))
    out = tmp_path / "dags"
    completed = run_cli("export", "badpipe", "--out", str(out), cwd=tmp_path)
    assert completed.returncode == 1
    assert "2 problems found; nothing was written" in completed.stderr
    assert "Workflow 'a_to_b_empty' has no tasks" in completed.stderr
    assert "Workflow 'a_to_b_loop': tasks form a cycle" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not out.exists()
    validate = run_cli("validate", "badpipe", cwd=tmp_path)
    assert validate.returncode == 1
    assert "a_to_b_loop" in validate.stderr


UNINSTALLED_PACKAGE = """
from processing_core import TaskBase, Workflow


class Step(TaskBase):
    def run(self) -> None:
        self.outputs = {}


first = Workflow("a", "b", "dup")
first.add_node(Step)
second = Workflow("a", "b", "dup")  # the same name, so the same dag_id
second.add_node(Step)
"""


def test_validate_without_a_version_says_so_once_and_still_finds_every_problem(tmp_path: Path):
    package = tmp_path / "newpipe"
    package.mkdir()
    (package / "__init__.py").write_text(UNINSTALLED_PACKAGE)
    completed = run_cli("validate", "newpipe", cwd=tmp_path)
    assert completed.returncode == 1
    # The duplicate dag_id is found, not hidden behind "no version".
    assert "dag_id 'a_to_b_dup_0.0.0' comes from two workflows" in completed.stderr
    assert "no version" not in completed.stderr.replace("note: no version", "")
    assert completed.stderr.count("note: no version for a_to_b_dup, a_to_b_dup") == 1
    assert "checked as 0.0.0; export needs --version" in completed.stderr
    (package / "__init__.py").write_text(UNINSTALLED_PACKAGE.split("second =")[0])
    valid = run_cli("validate", "newpipe", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.strip() == "1 workflow(s) valid."
    # Export still refuses a workflow without a version, saying where one comes from.
    export = run_cli("export", "newpipe", "--out", str(tmp_path / "dags"), cwd=tmp_path)
    assert export.returncode == 1
    assert "pass --version to export, set BUILD_VERSION" in export.stderr
    # With --version, nothing is said about versions.
    versioned = run_cli("validate", "newpipe", "--version", "1.0.0", cwd=tmp_path)
    assert versioned.returncode == 0 and "note:" not in versioned.stderr


def test_cli_reports_a_package_that_does_not_import(tmp_path: Path):
    package = tmp_path / "typo_pipe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flows.py").write_text("import not_installed_science_lib\n")
    completed = run_cli("export", "typo_pipe", "--out", str(tmp_path / "dags"), cwd=tmp_path)
    assert completed.returncode == 1
    assert "cannot import module 'typo_pipe.flows'" in completed.stderr
    assert "not_installed_science_lib" in completed.stderr


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--target", "docker"], {}, "target 'docker' is unknown"),
        (["--image", "Registry/UPPER:tag"], {}, "--image 'Registry/UPPER:tag' is not an image reference"),
        ([], {"K8S_ON_FINISH_ACTION": "explode"}, "K8S_ON_FINISH_ACTION"),
        ([], {"RESOURCE_PROFILES": "{not json"}, "RESOURCE_PROFILES"),
        ([], {"LOCAL_COMMAND": "run {{ dag }}"}, "LOCAL_COMMAND"),
    ],
)  # fmt: skip
def test_bad_options_and_settings_are_named(tmp_path: Path, args, env, fragment):
    completed = run_cli(
        "export", "workflows", "--out", str(tmp_path / "dags"), "--version", "1.0.0", *args, **env
    )
    assert completed.returncode == 1
    assert fragment in completed.stderr
    assert not (tmp_path / "dags").exists()
