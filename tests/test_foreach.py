"""Fan-out and fan-in (add_node(foreach=...)): checked at definition, exported as Airflow's
dynamic task mapping on every target, run by `airflow dags test`, and by `processing-core run`
with resume per instance. The workflow is tests/foreach_pipeline: split -> process_frame
(once per frame) -> combine."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TESTS_DIR, VENV_BIN, airflow, airflow_env, load_dagbag, subprocess_env
from rabbitmq import Bus, require_rabbitmq

from processing_core import TaskBase, Workflow
from processing_core.definition.foreach import Foreach, ForeachError, items_of, map_label
from processing_core.errors import WorkflowDefinitionError

FRAMES_DAG = "raw_to_combined_frames_1.0.0"
SPARK_DAG = "raw_to_rows_frames_1.0.0"
FILES = [f"frame_{i:03d}.fits" for i in range(5)]


class Split(TaskBase):
    declared_outputs = ("frames",)

    def run(self) -> None:
        self.outputs = {"frames": [1, 2]}


class Each(TaskBase):
    def run(self) -> None:
        self.outputs = {"seen": self.item}


class Again(Each):
    declared_outputs = ("seen",)


class BadOutputs(TaskBase):
    declared_outputs = "frames"

    def run(self) -> None: ...


def workflow() -> Workflow:
    flow = Workflow("a", "b", "c", version="1.0.0")
    flow.add_node(Split)
    return flow


# -- definition ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"foreach": "split"}, "is not '<upstream task id>.<output name>'"),
        ({"foreach": "split.frames", "max_map_length": 0}, "max_map_length 0 must be"),
        ({"foreach": "split.frames", "map_index_template": "{{ item"}, "does not parse as Jinja"),
        ({"max_map_length": 5}, "apply to a mapped node; add foreach="),
    ],
)
def test_add_node_refuses_a_bad_foreach_at_once(kwargs, expected):
    with pytest.raises(WorkflowDefinitionError, match="task 'each'") as raised:
        workflow().add_node(Each, upstreams=Split, **kwargs)
    assert expected in str(raised.value)


def test_validate_names_an_upstream_that_is_missing_or_an_output_not_declared():
    flow = workflow()
    flow.add_node(Each, foreach="split.frames")  # split is not one of its upstreams
    flow.add_node(Each, upstreams=Split, foreach="split.files", task_id="other")
    problems = "\n".join(flow.problems(_settings()))
    assert "names task 'split', which is not an upstream of this task" in problems
    assert "names output 'files', which task 'split' does not declare" in problems
    assert "declared outputs: ['frames']" in problems


def test_a_mapped_node_cannot_map_over_a_mapped_one():
    flow = workflow()
    flow.add_node(Each, upstreams=Split, foreach="split.frames")
    flow.add_node(Again, upstreams=Each, foreach="each.seen")
    assert any("which is mapped itself" in p for p in flow.problems(_settings()))


def test_declared_outputs_must_be_names():
    with pytest.raises(WorkflowDefinitionError, match="declare a tuple of output names"):
        workflow().add_node(BadOutputs)


def test_the_list_is_checked_with_the_culprit_and_the_fix_named():
    foreach = Foreach("split", "frames", max_map_length=3)
    with pytest.raises(ForeachError, match=r"did not output 'frames' \(its outputs: \['x'\]\)"):
        items_of({"x": 1}, foreach, "each")
    with pytest.raises(ForeachError, match="output 'frames' as a dict, not a list"):
        items_of({"frames": {}}, foreach, "each")
    with pytest.raises(ForeachError, match=r"has 4 elements, more than max_map_length \(3\)"):
        items_of({"frames": [1, 2, 3, 4]}, foreach, "each")
    # The deployment's limit, when lower, is the one the message names (and how to raise it).
    with pytest.raises(ForeachError, match=r"the deployment's \[core\] max_map_length \(2\)"):
        items_of({"frames": [1, 2, 3]}, foreach, "each", limit=2)
    assert items_of({"frames": []}, foreach, "each") == []


def test_an_instance_name_is_its_element_bounded_and_never_fails():
    assert map_label({"file": "a.fits"}, 3, "{{ item.file }}") == "a.fits"
    assert map_label("b.fits", 0) == "b.fits"
    assert map_label({"file": "a"}, 1) == '{"file":"a"}'
    assert map_label(None, 4) == "4"
    long = map_label("x" * 500, 0)
    assert len(long) == 64 and long.endswith("…")
    assert map_label("one\ntwo", 0) == "one two"
    # A template that fails on this element gives the default name, never an error.
    assert map_label({"file": "a"}, 2, "{{ item.nothing.deeper }}") == '{"file":"a"}'
    # The sandbox: a template cannot reach Python's internals.
    assert map_label("z", 5, "{{ item.__class__.__mro__ }}") == "z"


def test_run_workflow_in_process_maps_and_fans_in(tmp_path):
    from foreach_pipeline import frames

    from processing_core.testing import run_workflow

    run = run_workflow(frames, parameters={"work": str(tmp_path)}, in_process=True)
    assert run.states["process_frame"] == "success"
    assert [o["file"] for o in run.instance_outputs("process_frame")] == FILES
    assert run.outputs("combine") == {"files": FILES, "total": 30, "indexes": [0, 1, 2, 3, 4]}
    empty = run_workflow(frames, parameters={"work": str(tmp_path), "count": 0}, in_process=True)
    assert empty.states["process_frame"] == "skipped"
    assert empty.outputs("combine") == {"files": [], "total": 0, "indexes": []}


def test_an_instance_span_carries_its_map_index():
    from processing_core.definition.task import RunContext
    from processing_core.runtime.telemetry import Telemetry

    instance = Telemetry(RunContext("w", "1", "each", map_index=3, item="a"), None, None)
    assert instance.attributes["airflow.map_index"] == 3
    plain = Telemetry(RunContext("w", "1", "each"), None, None)
    assert "airflow.map_index" not in plain.attributes


def test_the_graph_says_what_a_mapped_node_runs_over():
    from foreach_pipeline import frames

    from processing_core.render.graph import render_graph

    text = render_graph(frames, "mermaid").decode()
    assert "ProcessFrame · per split.frames" in text


def _settings():
    from processing_core.config import load_settings

    return load_settings()


# -- export ------------------------------------------------------------------------------


def export(tmp_path: Path, target: str) -> Path:
    out = tmp_path / f"dags-{target}"
    completed = subprocess.run(
        [str(VENV_BIN / "processing-core"), "export", "foreach_pipeline", "--out", str(out),
         "--target", target],
        capture_output=True, text=True, env=subprocess_env(PYTHONPATH=str(TESTS_DIR)),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return out


def test_kubernetes_target_maps_pods_and_spark_applications(tmp_path, crd_validator):
    import kubernetes_validate
    from kubernetes.client import ApiClient

    dags = export(tmp_path, "kubernetes")
    bag = load_dagbag(dags)
    assert bag.import_errors == {}
    frames = bag.dags[FRAMES_DAG]
    process = frames.get_task("process_frame")
    assert process.is_mapped and process.operator_class.__name__ == "PodTask"
    assert frames.get_task("split-frames").upstream_task_ids == {"split"}
    assert process.upstream_task_ids == {"split", "split-frames"}
    assert frames.get_task("combine").upstream_task_ids == {"process_frame"}
    # Each instance is a pod of its own: the partial arguments make a valid pod.
    pod = process.unmap({}).build_pod_request_obj(dry_run=True)
    manifest = ApiClient().sanitize_for_serialization(pod)
    kubernetes_validate.validate(manifest, "1.37.0", strict=True)
    arguments = manifest["spec"]["containers"][0]["args"]
    assert "--map-index={{ ti.map_index }}" in arguments
    assert any(a.startswith("--foreach=") for a in arguments)
    assert "processing_core_map_label" in process.partial_kwargs["map_index_template"]
    spark = bag.dags[SPARK_DAG].get_task("spark_frame")
    assert spark.is_mapped and spark.operator_class.__name__ == "SparkApplicationTask"
    application = spark.partial_kwargs["template_spec"]["spark"]
    crd_validator.validate(application)
    # Each instance gets a SparkApplication name of its own (the operator's random suffix).
    assert spark.partial_kwargs.get("random_name_suffix", True) is True
    text = (dags / f"{FRAMES_DAG}.py").read_text()
    assert ".partial(" in text and ".expand_kwargs(split_frames.output)" in text
    assert "foreach_pipeline" not in {line.split()[1] for line in text.splitlines()
                                      if line.startswith(("import ", "from "))}  # fmt: skip


def test_the_dag_file_of_a_mapped_workflow_is_deterministic(tmp_path):
    first = (export(tmp_path / "a", "kubernetes") / f"{FRAMES_DAG}.py").read_bytes()
    second = (export(tmp_path / "b", "kubernetes") / f"{FRAMES_DAG}.py").read_bytes()
    assert first == second


# -- airflow dags test, local target ---------------------------------------------------------


@pytest.fixture(scope="module")
def frames_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow-foreach")
    dags = export(home, "local")
    return airflow_env(home, dags, PYTHONPATH=str(TESTS_DIR))


def dags_test(env: dict[str, str], conf: dict, date: str) -> subprocess.CompletedProcess[str]:
    return airflow(env, "dags", "test", FRAMES_DAG, date, "--conf", json.dumps(conf))


def rows(env: dict[str, str], sql: str, date: str) -> list[tuple]:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as connection:
        (run_id,) = connection.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? AND logical_date LIKE ?",
            (FRAMES_DAG, date[:19].replace("T", " ") + "%"),
        ).fetchone()
        return connection.execute(sql, (FRAMES_DAG, run_id)).fetchall()


STATES = "SELECT task_id, map_index, state, rendered_map_index FROM task_instance WHERE dag_id = ? AND run_id = ? ORDER BY task_id, map_index"  # fmt: skip
XCOM = "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = 'combine' AND key = 'return_value'"  # fmt: skip


@pytest.mark.slow
def test_dags_test_runs_five_instances_and_combine_gets_their_results_in_order(
    frames_home, tmp_path
):
    date = "2026-12-01T00:00:00+00:00"
    completed = dags_test(frames_home, {"work": str(tmp_path)}, date)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    states = rows(frames_home, STATES, date)
    instances = [(index, state, name) for task, index, state, name in states if task == "process_frame"]  # fmt: skip
    assert instances == [(i, "success", FILES[i]) for i in range(5)]  # named by the element
    ((value,),) = rows(frames_home, XCOM, date)
    assert json.loads(value)["outputs"] == {"files": FILES, "total": 30, "indexes": [0, 1, 2, 3, 4]}
    # Each instance ran on its own element, knowing its index.
    calls = [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]
    assert sorted((c["map_index"], c["file"]) for c in calls) == list(enumerate(FILES))
    # Its log lines say which instance they are.
    assert "process_frame[3]#1" in completed.stdout


@pytest.mark.slow
def test_dags_test_an_empty_list_skips_the_node_and_a_wrong_one_fails_naming_it(
    frames_home, tmp_path
):
    empty = "2026-12-02T00:00:00+00:00"
    completed = dags_test(frames_home, {"work": str(tmp_path), "count": 0}, empty)
    assert completed.returncode == 0, completed.stdout[-4000:]
    states = {task: state for task, _, state, _ in rows(frames_home, STATES, empty)}
    assert states == {"split": "success", "split-frames": "success", "process_frame": "skipped",
                      "combine": "success"}  # fmt: skip
    ((value,),) = rows(frames_home, XCOM, empty)
    assert json.loads(value)["outputs"] == {"files": [], "total": 0, "indexes": []}
    wrong = "2026-12-03T00:00:00+00:00"
    completed = dags_test(frames_home, {"work": str(tmp_path), "shape": "not_a_list"}, wrong)
    states = {task: state for task, _, state, _ in rows(frames_home, STATES, wrong)}
    assert states["split-frames"] == "failed" and states["combine"] == "upstream_failed"
    assert (
        "task 'process_frame' runs once per element of 'split.frames', but task 'split' output "
        "'frames' as a dict, not a list" in completed.stdout
    )
    too_long = "2026-12-04T00:00:00+00:00"
    completed = dags_test(frames_home, {"work": str(tmp_path), "shape": "too_long"}, too_long)
    assert "has 40 elements, more than max_map_length (8)" in completed.stdout
    # The deployment's own limit, when lower than the workflow's, is the one that holds.
    lower = {**frames_home, "AIRFLOW__CORE__MAX_MAP_LENGTH": "4"}
    over = "2026-12-04T06:00:00+00:00"
    completed = dags_test(lower, {"work": str(tmp_path)}, over)
    assert "has 5 elements, more than the deployment's [core] max_map_length (4)" in (
        completed.stdout
    )


@pytest.mark.slow
def test_dags_test_events_of_each_instance_say_which_one_they_are(frames_home, tmp_path):
    require_rabbitmq()
    bus = Bus()
    date = "2026-12-05T00:00:00+00:00"
    conf = {"work": str(tmp_path), "fail_frame": "frame_002.fits"}
    try:
        env = {**frames_home, **bus.env(EVENTS_OUTBOX=str(tmp_path / "outbox"))}
        completed = dags_test(env, conf, date)
        events = [json.loads(body) for _, _, body in bus.messages(expected=100, timeout=3)]
    finally:
        bus.delete()
    assert completed.returncode != 0
    mine = [e for e in events if e["task_id"] == "process_frame"]
    # One run, counted as the user counts it: four instances succeeded, one failed (seen
    # by the task and by Airflow's callback), and each event names its instance.
    succeeded = sorted(e["map_index"] for e in mine if e["kind"] == "task.succeeded")
    assert succeeded == [0, 1, 3, 4]
    failed = sorted((e["source"], e["map_index"]) for e in mine if e["kind"] == "task.failed")
    assert failed == [("airflow", 2), ("task", 2)]
    assert {e["map_index"] for e in events if e["task_id"] == "split"} == {None}
    # `events tail` says which instance, as the log lines do.
    from processing_core.events.model import StatusEvent
    from processing_core.events.tail import format_event

    (mine_failed,) = [e for e in mine if e["kind"] == "task.failed" and e["source"] == "task"]
    assert " process_frame[2]#1 " in format_event(StatusEvent.model_validate(mine_failed))
    states = {(task, index): state for task, index, state, _ in rows(frames_home, STATES, date)}
    assert states[("process_frame", 2)] == "failed"
    assert states[("combine", -1)] == "upstream_failed"


# -- processing-core run ---------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processing_core", "run", *args], capture_output=True, text=True,
        env=subprocess_env(PYTHONPATH=str(TESTS_DIR)), timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_processing_core_run_resumes_only_the_failed_instance_and_what_follows(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    first = run_cli(
        "foreach_pipeline:raw_to_combined_frames", "--run-dir", str(tmp_path / "runs"),
        "--workers", "3", "--param", f"work={work}", "--param", "fail_frame=frame_002.fits",
    )  # fmt: skip
    assert first.returncode == 1
    # The progress names each instance by its element; the failure names the instance's log.
    assert "process_frame[2] frame_002.fits started (try 1)" in first.stdout
    assert "process_frame[2]: failed: ValueError: cannot read frame_002.fits" in first.stderr
    assert "process_frame.2/log" in first.stderr
    (folder,) = (tmp_path / "runs" / FRAMES_DAG).iterdir()
    summary = json.loads((folder / "run.json").read_text())["tasks"]
    assert summary["process_frame"]["state"] == "failed"
    assert summary["process_frame[2]"]["state"] == "failed"
    assert summary["process_frame[4]"]["label"] == "frame_004.fits"  # kept when it ended
    assert summary["combine"]["state"] == "upstream_failed"
    (work / "fixed").touch()
    (work / "calls").write_text("")
    resumed = run_cli(
        "foreach_pipeline:raw_to_combined_frames", "--resume", str(folder), "--workers", "3"
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    # Only instance 2 ran again (its second try), then combine.
    calls = [json.loads(line) for line in (work / "calls").read_text().splitlines()]
    assert calls == [{"map_index": 2, "file": "frame_002.fits"}]
    summary = json.loads((folder / "run.json").read_text())["tasks"]
    assert summary["process_frame[2]"]["try_number"] == 2
    assert summary["process_frame[0]"]["try_number"] == 1
    result = json.loads((folder / "combine" / "result.json").read_text())
    assert result["outputs"] == {"files": FILES, "total": 30, "indexes": [0, 1, 2, 3, 4]}


# -- run-task ---------------------------------------------------------------------------------


def run_task(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processing_core", "run-task", "foreach_pipeline:ProcessFrame",
         "--workflow-name=w", "--workflow-version=1", "--task-id=process_frame", *args],
        capture_output=True, text=True, timeout=60,
        env=subprocess_env(PYTHONPATH=str(TESTS_DIR), LOG_FORMAT="json", **env),
    )  # fmt: skip


def test_run_task_gives_the_instance_its_element_and_logs_its_index(tmp_path):
    frames = [{"file": "a.fits", "value": 1}, {"file": "b.fits", "value": 2}]
    inputs = json.dumps({"split": {"status": "success", "outputs": {"frames": frames}}})
    foreach = json.dumps({"task": "split", "output": "frames"})
    parameters = json.dumps({"work": str(tmp_path), "fail_frame": ""})
    completed = run_task(
        f"--inputs={inputs}", f"--foreach={foreach}", "--map-index=1",
        f"--parameters={parameters}", "--result-path=-",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.splitlines()[-1])["outputs"]["file"] == "b.fits"
    lines = [json.loads(line) for line in completed.stderr.splitlines()]
    assert {line.get("map_index") for line in lines} == {1}
    # An index past the list, or one option without the other: exit 2, saying why.
    beyond = run_task(f"--inputs={inputs}", f"--foreach={foreach}", "--map-index=2",
                      f"--parameters={parameters}")  # fmt: skip
    assert beyond.returncode == 2
    assert "instance 2 has no element: 'split.frames' has 2" in beyond.stderr
    alone = run_task(f"--inputs={inputs}", "--map-index=0", f"--parameters={parameters}")
    assert alone.returncode == 2 and "--map-index and --foreach go together" in alone.stderr
    negative = run_task("--map-index=-1")
    assert negative.returncode == 2 and "is not a whole number >= 0" in negative.stderr
