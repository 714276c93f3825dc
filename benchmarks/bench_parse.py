"""Parse cost: generated DAG files beside their hand-written twins, each set in a fresh process.

The twins (`_twin.py`) are what a careful engineer writes by hand for the same realistic
workflows (`_synthetic.realistic_workflow`: parameters, a volume, secrets, retries, assets,
schedules), with every feature of the generated files: Airflow's serialization of both is
equal (checked by tests/test_parse_cost.py). Each measuring process imports Airflow, the
provider and our callbacks first (the dag-processor pre-imports what DAG files use), then
times `DagBag` over the folder and Airflow's serialization of every DAG (what the
dag-processor does next with each file). Interleaved and repeated; prints medians and the
ratios (target <= 1.00).

    python benchmarks/bench_parse.py [--files 50] [--tasks 12] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._synthetic import realistic_workflow
from benchmarks._twin import hand_written_twin
from processing_core.build_utils import export_workflows
from processing_core.config import load_settings
from processing_core.nodes.dag import ExportOptions

MEASURE = """
import json, sys, time
import airflow.sdk
import processing_core.airflow_callbacks, processing_core.airflow_operators
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization
start = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
parsed = time.perf_counter()
for dag in bag.dags.values():
    DagSerialization.to_dict(dag)
serialized = time.perf_counter()
assert not bag.import_errors, bag.import_errors
print(json.dumps(
    {"parse": parsed - start, "serialize": serialized - parsed, "dags": len(bag.dags)}
))
"""


def measure(folder: Path, expected: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["dags"] == expected, result
    return {"parse": result["parse"], "serialize": result["serialize"]}


def write_pairs(root: Path, files: int, tasks: int) -> tuple[Path, Path]:
    """`files` generated DAG files under root/generated and their twins under root/hand."""
    generated, hand = root / "generated", root / "hand"
    hand.mkdir(parents=True)
    workflows = [realistic_workflow(index, tasks) for index in range(files)]
    options = ExportOptions.create(target="kubernetes", settings=load_settings())
    for result in export_workflows(workflows, generated, options):
        (hand / result.file_name).write_text(hand_written_twin(result.workflow))
    return generated, hand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sides = ("generated", "hand-written")
    samples: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as root:
        generated, hand = write_pairs(Path(root), args.files, args.tasks)
        sizes = {
            "generated": sum(p.stat().st_size for p in generated.glob("*.py")),
            "hand-written": sum(p.stat().st_size for p in hand.glob("*.py")),
        }
        folders = {"generated": generated, "hand-written": hand}
        for round_number in range(args.repeat):  # interleaved, alternating who goes first
            order = sides if round_number % 2 == 0 else sides[::-1]
            for side in order:
                samples[side].append(measure(folders[side], args.files))
    print(
        f"{args.files} files x {args.tasks} tasks, median of {args.repeat} interleaved rounds "
        "(a fresh process each):"
    )
    medians: dict[str, dict[str, float]] = {}
    for side in sides:
        medians[side] = {
            step: statistics.median(sample[step] for sample in samples[side])
            for step in ("parse", "serialize")
        }
        parse, serialize = medians[side]["parse"], medians[side]["serialize"]
        print(
            f"  {side:<13} parse {parse / args.files * 1000:6.2f} ms/file   serialize "
            f"{serialize / args.files * 1000:6.2f} ms/file   "
            f"({sizes[side] // args.files} bytes/file)"
        )
    for step in ("parse", "serialize"):
        ratio = medians["generated"][step] / medians["hand-written"][step]
        print(f"  ratio generated / hand-written, {step}: {ratio:.2f} (target <= 1.00)")
    total = {side: sum(medians[side].values()) for side in sides}
    print(f"  ratio, parse + serialize: {total['generated'] / total['hand-written']:.2f}")


if __name__ == "__main__":
    main()
