"""`processing_core.compat.dkist`: a pipeline written for dkist-processing-core moves by
its import alone (tests/dkist_pipeline): dkist's names and dag_ids, per-node resource queues,
`recipe_run_id` reaching every task under `airflow dags test`, rollback per the switch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import VENV_BIN, airflow, airflow_env, load_dagbag, run_cli

from processing_core.compat.dkist import ResourceQueue, Workflow, workflow_name_from_details

L1 = "l0_to_l1_vbi_summit-calibrated_1.2.3"
FAILING = "l0_to_l1_vbi_failure-test_1.2.3"
ORDER = [
    "TransferL0Data", "ParseL0InputData", "DarkCalibration", "GainCalibration",
    "ScienceCalibration", "WriteL1Frame", "QualityL1Metrics", "SubmitDatasetMetadata",
]  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    folders = {}
    for target in ("kubernetes", "local"):
        out = tmp_path_factory.mktemp(f"dkist-{target}")
        done = run_cli("export", "dkist_pipeline", "--out", str(out), "--target", target,
                       BUILD_VERSION="1.2.3", FAILURE_CALLBACK="chatops:notify")  # fmt: skip
        assert done.returncode == 0, done.stderr
        # pip extras are never dropped silently: the export says where they go.
        assert "asks for pip extras ['inventory']" in done.stderr
        folders[target] = out
    return folders


def test_dag_ids_task_ids_queues_and_recipe_run_id_are_dkists(exported):
    bag = load_dagbag(exported["kubernetes"])
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {L1, FAILING, "l0_to_l1_vbi_deep-chain_1.2.3"}
    deep = bag.dags["l0_to_l1_vbi_deep-chain_1.2.3"]
    level, task = 1, deep.get_task("Level01")
    while task.downstream_list:
        (task,), level = task.downstream_list, level + 1
    assert (level, task.task_id) == (17, "Level17")
    dag = bag.dags[L1]
    assert sorted(dag.task_ids) == sorted(ORDER)
    assert {t.task_id for t in dag.get_task("SubmitDatasetMetadata").upstream_list} == {
        "WriteL1Frame", "QualityL1Metrics"
    }  # fmt: skip
    # A node's resource queue is its resource profile: the high-memory nodes are placed apart.
    gain, dark = dag.get_task("GainCalibration"), dag.get_task("DarkCalibration")
    assert gain.node_selector != dark.node_selector or gain.tolerations != dark.tolerations
    assert dag.get_task("TransferL0Data").retries == 2
    assert dag.get_task("TransferL0Data").retry_delay.total_seconds() == 5
    recipe = dag.params.get_param("recipe_run_id")
    assert recipe.schema["type"] == "integer"  # required: no default, so not nullable


def test_the_workflow_reads_as_dkists():
    import dkist_pipeline

    flow = dkist_pipeline.l0_pipeline
    assert flow.workflow_name == workflow_name_from_details("l0", "l1", "vbi", "summit-calibrated")
    assert flow.workflow_version == "dev"  # no BUILD_VERSION, no workflow_version
    assert flow.dag_name == "l0_to_l1_vbi_summit-calibrated_dev"
    queues = {node.task.__name__: node.resource_queue for node in flow.nodes}
    assert queues["GainCalibration"] is ResourceQueue.HIGH_MEMORY
    assert queues["TransferL0Data"] is ResourceQueue.DEFAULT
    (science,) = [node for node in flow.nodes if node.task_id == "ScienceCalibration"]
    assert science.pip_extras == ("inventory",)
    assert science.upstreams == (dkist_pipeline.GainCalibration,)
    assert flow.load().dag_id == "l0_to_l1_vbi_summit-calibrated_dev"
    with pytest.raises(ValueError, match=r"is 104 characters long\. Limit is 100"):
        Workflow(input_data="l0", output_data="l1", category="x" * 95, workflow_package="t")


def test_a_task_runs_as_dkist_constructs_it_and_rolls_back_only_when_asked(tmp_path, monkeypatch):
    import dkist_pipeline

    monkeypatch.setenv("DKIST_TEST_OUT", str(tmp_path))
    with dkist_pipeline.DarkCalibration(recipe_run_id=5, workflow_name="w",
                                        workflow_version="1") as task:  # fmt: skip
        task()
    assert (task.task_name, task.recipe_run_id) == ("DarkCalibration", 5)
    assert task.tracer is not None and task.meter is not None
    for task_class in (dkist_pipeline.Fails, dkist_pipeline.FailsAndRollsBack):
        with pytest.raises(RuntimeError, match="fails on purpose"), task_class(13, "w", "1") as t:
            t()
    assert (tmp_path / "calls").read_text().split("\n")[:-1] == [
        "DarkCalibration 5", "Fails 13", "FailsAndRollsBack 13", "FailsAndRollsBack:rollback 13"
    ]  # fmt: skip


def task_states(home: Path, dag_id: str) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(home / "airflow.db") as connection:
        sql = "SELECT task_id, state FROM task_instance WHERE dag_id = ?"
        return dict(connection.execute(sql, (dag_id,)).fetchall())


@pytest.mark.slow
def test_recipe_run_id_reaches_every_task_under_airflow(exported, tmp_path):
    home = tmp_path / "home"
    env = airflow_env(home, exported["local"], DKIST_TEST_OUT=str(tmp_path))
    done = airflow(env, "dags", "test", L1, "--conf", json.dumps({"recipe_run_id": 7}))
    # The run's conf gives the parameter required without a default (recipe_run_id), to the
    # tasks and to the DAG's callbacks alike: the run succeeds.
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert task_states(home, L1) == dict.fromkeys(ORDER, "success")
    calls = (tmp_path / "calls").read_text().split("\n")[:-1]
    assert sorted(calls) == sorted(f"{name} 7" for name in ORDER)
    assert calls.index("TransferL0Data 7") < calls.index("DarkCalibration 7")
    (tmp_path / "calls").unlink()
    failed = airflow(env, "dags", "test", FAILING, "--conf", json.dumps({"recipe_run_id": 13}))
    assert failed.returncode == 1 and "DagRun failed" in failed.stderr, failed.stderr[-3000:]
    assert task_states(home, FAILING) == {
        "TransferL0Data": "success", "Fails": "failed", "FailsAndRollsBack": "failed"
    }  # fmt: skip
    calls = (tmp_path / "calls").read_text().split("\n")[:-1]
    # In run-task too: rollback() only where the switch is on.
    assert "Fails:rollback 13" not in calls and "FailsAndRollsBack:rollback 13" in calls
    # The team's own failure message flowed beside processing-core's event callback.
    assert sorted((tmp_path / "chatops").read_text().split("\n")[:-1]) == [
        "Fails failed", "FailsAndRollsBack failed"
    ]  # fmt: skip


def test_a_failure_callback_that_is_no_import_path_is_refused(tmp_path):
    done = run_cli("export", "dkist_pipeline", "--out", str(tmp_path),
                   FAILURE_CALLBACK="chatops.notify")  # fmt: skip
    assert done.returncode == 1 and "FAILURE_CALLBACK" in done.stderr
    assert not list(tmp_path.iterdir())


def test_run_task_refuses_a_run_without_recipe_run_id(exported):
    completed = subprocess.run(
        [str(VENV_BIN / "processing-core"), "run-task", "dkist_pipeline:DarkCalibration",
         "--workflow-name=l0_to_l1_vbi_summit-calibrated", "--workflow-version=1.2.3",
         "--task-id=DarkCalibration", "--declared-parameters=" + json.dumps(
             [{"name": "recipe_run_id", "type": "integer", "required": True, "minimum": 0}])],
        capture_output=True, text=True, timeout=120,
        env={**__import__("conftest").subprocess_env()},
    )  # fmt: skip
    assert completed.returncode == 2
    assert "recipe_run_id" in completed.stderr


def test_nothing_but_the_shim_imports_the_shim():
    import ast

    source = Path(__file__).resolve().parent.parent / "src" / "processing_core"

    def imported(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        found = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        return found | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }

    importers = [
        path.relative_to(source)
        for path in source.rglob("*.py")
        if "compat" not in path.parts
        and any(name.startswith("processing_core.compat") for name in imported(path))
    ]
    assert importers == []


def test_a_half_done_move_is_told_what_to_change():
    import dkist_processing_core

    from processing_core import Workflow as NativeWorkflow
    from processing_core import WorkflowDefinitionError

    class Calibrate(dkist_processing_core.TaskBase):
        pass

    native = NativeWorkflow("l0", "l1", "vbi", version="1.0.0", workflow_package="t")
    with pytest.raises(WorkflowDefinitionError) as old_base:
        native.add_node(Calibrate)
    assert "Calibrate subclasses dkist_processing_core's TaskBase; import TaskBase from " \
        "processing_core.compat.dkist instead" in str(old_base.value)  # fmt: skip
    import dkist_pipeline

    with pytest.raises(WorkflowDefinitionError) as queue:
        native.add_node(dkist_pipeline.DarkCalibration, resource_queue=ResourceQueue.HIGH_MEMORY)
    assert "resource_queue=/pip_extras=, which are dkist-processing-core's: import Workflow " \
        "from processing_core.compat.dkist, or pass resource_profile='high_memory'" in str(
        queue.value)  # fmt: skip


def test_dkists_build_steps_take_the_package(tmp_path):
    import dkist_pipeline

    from processing_core.compat.dkist import build_utils

    # The version was fixed when the package was imported (no BUILD_VERSION then): dev.
    build_utils.validate_workflows(dkist_pipeline)
    files = build_utils.export_dags(dkist_pipeline, tmp_path / "dags")
    assert sorted(p.name for p in files) == [
        "l0_to_l1_vbi_deep-chain_dev.py", "l0_to_l1_vbi_failure-test_dev.py",
        "l0_to_l1_vbi_summit-calibrated_dev.py",
    ]  # fmt: skip
    assert load_dagbag(tmp_path / "dags").import_errors == {}
    notebooks = build_utils.export_notebooks(dkist_pipeline, tmp_path / "notebooks")
    assert sorted(p.suffix for p in notebooks) == [".ipynb"] * 3


def test_pip_extras_are_recorded_in_the_bundles_manifest(tmp_path):
    import zipfile

    made = run_cli("bundle", "dkist_pipeline", "--version", "1.2.3", "--out", str(tmp_path),
                   "--target", "local")  # fmt: skip
    assert made.returncode == 0, made.stderr
    (archive,) = tmp_path.glob("*.zip")
    manifest = json.loads(zipfile.ZipFile(archive).read("manifest.json"))
    by_dag = {w["dag_id"]: w for w in manifest["workflows"]}
    assert by_dag[L1]["image_extras"] == {"ScienceCalibration": ["inventory"]}
    assert "image_extras" not in by_dag[FAILING]
    assert len(by_dag["l0_to_l1_vbi_deep-chain_1.2.3"]["task_ids"]) == 17
    # The archive is a sound bundle for every check that reads it.
    assert run_cli("verify", str(archive)).returncode == 0
    with pytest.raises(Exception, match=r"pip_extras 'inventory' must be a list of extras"):
        Workflow(input_data="a", output_data="b", category="c", workflow_package="t").add_node(
            __import__("dkist_pipeline").DarkCalibration, pip_extras="inventory"
        )


def test_a_common_style_task_runs_under_run_task_with_dkists_metrics_and_spans(receiver, tmp_path):
    """As dkist-processing-common's tasks: run-task builds it with dkist's three keywords (its
    own `__init__`), and its counters, gauge and spans reach a real OTLP receiver under
    dkist's metric names."""
    declared = [{"name": "recipe_run_id", "type": "integer", "required": True, "minimum": 0}]
    completed = subprocess.run(
        [str(VENV_BIN / "processing-core"), "run-task", "dkist_pipeline:DarkCalibration",
         "--workflow-name=l0_to_l1_vbi_summit-calibrated", "--workflow-version=1.2.3",
         "--task-id=DarkCalibration", '--parameters={"recipe_run_id": 42}',
         f"--declared-parameters={json.dumps(declared)}", "--result-path=-"],
        capture_output=True, text=True, timeout=120,
        env=__import__("conftest").subprocess_env(**receiver.env(), DKIST_TEST_OUT=str(tmp_path)),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1])["status"] == "success"
    assert (tmp_path / "calls").read_text() == "DarkCalibration 42\n"
    points = receiver.metric_points()
    assert points["dkist.processing.tasks.executed"][0].as_int == 1
    assert points["dkist.processing.tasks.reads"][0].as_int == 1
    (progress,) = points["dkist.processing.tasks.outer.loop.progress"]
    assert progress.as_double == 100.0
    attributes = {a.key: a.value for a in progress.attributes}
    assert attributes["recipe.run.id"].int_value == 42
    assert attributes["task.name"].string_value == "DarkCalibration"
    spans = {span.name: span for _, span in receiver.spans()}
    assert spans["Record Provenance"].status.code == 1  # OK, set by the task


def test_every_resource_queue_of_dkist_is_a_built_in_profile():
    from processing_core.config import load_settings

    profiles = load_settings().profiles()
    assert {queue.value for queue in ResourceQueue} == {
        "default", "high_memory", "multi_core", "gpu"
    }  # fmt: skip
    assert {queue.value for queue in ResourceQueue} <= set(profiles)
    selectors = {queue: profiles[queue.value].node_selector for queue in ResourceQueue}
    assert len({tuple(sorted(s.items())) for s in selectors.values()}) == 4  # each its own nodes


def test_a_task_is_built_both_ways_as_dkist_builds_it():
    import dkist_pipeline

    from processing_core.compat.dkist.workflow import dag_name
    from processing_core.definition.task import RunContext

    positional = dkist_pipeline.GainCalibration(3, "w", "1")
    keywords = dkist_pipeline.GainCalibration(recipe_run_id=3, workflow_name="w",
                                              workflow_version="1")  # fmt: skip
    run = RunContext("w", "1", "GainCalibration", parameters={"recipe_run_id": 3}, run_id="r-1")
    for_run = dkist_pipeline.GainCalibration.for_run(run)
    for task in (positional, keywords, for_run):
        assert (task.recipe_run_id, task.scratch) == (3, "scratch/3/GainCalibration")
        # The instrument's parameters where the task set them; the run's under their own name.
        assert task.parameters.wavelength == 854.2
        assert task.run_parameters["recipe_run_id"] == 3
        assert task.format_metric_name("x") == "dkist.processing.x"
        assert task.base_telemetry_attributes["workflow.name"] == "w"
    assert for_run.run_id == "r-1" and for_run.context is run  # the run's context, as given
    assert dag_name("l0_to_l1_vbi", "1.2.3") == "l0_to_l1_vbi_1.2.3"
    with pytest.raises(ValueError, match="contains invalid characters"):
        dag_name("l0 to l1", "1")


def test_dkists_configuration_class_says_what_it_builds_on():
    """DKISTProcessingCoreConfiguration builds on dkist-service-configuration, which
    dkist-processing-common brings (benchmarks/dkist_move.py uses the real one); without it,
    importing the module says so."""
    from importlib.util import find_spec

    if find_spec("dkist_service_configuration") is not None:
        pytest.skip("dkist-service-configuration is installed here")
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-c", "import processing_core.compat.dkist.config"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "builds on dkist-service-configuration, which is not installed here" in done.stderr
