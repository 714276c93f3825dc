"""What makes a generated DAG file cheap for the dag-processor, checked on the real parser and
serializer (the speed itself is measured in benchmarks/bench_parse.py and bench_scale.py):

- the benchmarks' hand-written twin has every feature of the generated file, so their ratios
  compare like with like: Airflow's serialization of both DAGs is equal;
- the tasks carry no copy of the DAG's parameters (Airflow validates every copy again each
  time it serializes the DAG), yet a task still sees every parameter at run time;
- the file names the provider's operator module, which the dag-processor imports once
  before it forks a parser, instead of each parser importing it again.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, load_dagbag

sys.path.insert(0, str(REPO_ROOT))

from benchmarks._synthetic import realistic_workflow
from benchmarks._twin import hand_written_twin, serialized
from processing_core.build_utils import export_workflows
from processing_core.config import load_settings
from processing_core.nodes.dag import ExportOptions

# Daily, on an asset, triggered: each kind of workflow realistic_workflow makes.
WORKFLOWS = 3


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("parse-cost")
    generated, hand = root / "generated", root / "hand"
    hand.mkdir()
    workflows = [realistic_workflow(index, 12) for index in range(WORKFLOWS)]
    options = ExportOptions.create(target="kubernetes", settings=load_settings())
    for result in export_workflows(workflows, generated, options):
        (hand / result.file_name).write_text(hand_written_twin(result.workflow))
    return generated, hand


def test_the_hand_written_twin_has_every_feature_of_the_generated_file(pairs):
    generated, hand = (load_dagbag(folder) for folder in pairs)
    assert generated.import_errors == {} and hand.import_errors == {}
    assert sorted(generated.dags) == sorted(hand.dags) and len(generated.dags) == WORKFLOWS
    for dag_id, dag in generated.dags.items():
        # Equal but for the operator's class name, the file's path, and the tasks' copies
        # of the DAG's params (which the generated file's tasks do not hold).
        assert serialized(dag) == serialized(hand.dags[dag_id]), dag_id


def test_tasks_hold_no_copy_of_the_dag_params_and_see_them_all_at_run_time(pairs):
    from airflow.sdk.definitions.param import process_params
    from airflow.serialization.serialized_objects import DagSerialization

    bag = load_dagbag(pairs[0])
    for dag in bag.dags.values():
        assert list(dag.params) == [
            "label", "data_root", "seed", "frame_count", "frame_size", "threshold",
        ]  # fmt: skip
        stored = DagSerialization.to_dict(dag)["dag"]
        assert [p for p, _ in stored["params"]] == list(dag.params)
        assert all("params" not in task["__var"] for task in stored["tasks"])
        for task in dag.tasks:
            assert len(task.params) == 0, task.task_id
            # What the task runner hands the task (airflow.sdk.execution_time.task_runner).
            seen = process_params(dag, task, {"seed": 9}, suppress_exception=False)
            assert seen == {
                "label": "nightly", "data_root": "", "seed": 9, "frame_count": 4,
                "frame_size": 16, "threshold": 50.0,
            }  # fmt: skip


def test_the_dag_processor_imports_each_provider_operator_before_it_forks(pairs):
    from airflow.utils.file import iter_airflow_imports

    for path in pairs[0].glob("*.py"):
        # What the dag-processor imports in its own process before forking a parser.
        pre_imported = set(iter_airflow_imports(str(path)))
        assert "airflow.providers.cncf.kubernetes.operators.pod" in pre_imported
        tree = ast.parse(path.read_text())
        named = {
            alias.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom)
            and node.module == "processing_core.airflow_operators"
            for alias in node.names
        }
        assert named == {"PodTask"}


@pytest.mark.parametrize("target", ["kubernetes", "local"])
def test_every_operator_names_the_provider_operator_it_extends(target):
    from processing_core.airflow.dag import resolve
    from processing_core.build_utils import discover_workflows
    from processing_core.nodes.dag import build_dag_spec

    options = ExportOptions.create(target=target, version="1.0.0", settings=load_settings())
    seen = set()
    for workflow in discover_workflows("workflows"):
        for task in build_dag_spec(workflow, options).tasks:
            if task.operator.endswith(":ForeachItems"):  # Airflow's own BaseOperator
                assert task.provider is None
                continue
            assert task.provider, task.operator
            assert issubclass(resolve(task.operator), resolve(task.provider)), task.operator
            seen.add(task.operator.rpartition(":")[2])
    # Both kinds of task of each target: the example has pod and Spark tasks.
    assert len(seen) == 2, seen
