"""Parse cost: generated DAG files beside hand-written equivalents, each set in a fresh process.

Both processes import Airflow and the provider first (the DAG processor pre-imports what
DAG files use), then time `DagBag` over N files. Prints both and the ratio (target <= 1.10).

    python benchmarks/bench_parse.py [--files 50] [--tasks 10] [--repeat 3]
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

from benchmarks._synthetic import synthetic_workflow
from processing_core.build_utils import export_workflows
from processing_core.config import load_settings
from processing_core.nodes.dag import ExportOptions

HAND_WRITTEN = """\
from datetime import timedelta

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.sdk import DAG
from kubernetes.client import models as k8s
from processing_core.airflow_callbacks import StatusCallback

IMAGE = "benchmarks:1.0.0"
RESOURCES = k8s.V1ResourceRequirements(
    requests={{"cpu": "500m", "memory": "1Gi"}}, limits={{"memory": "2Gi"}}
)
POD_ENV = [
    k8s.V1EnvVar(name="POD_NAME", value_from=k8s.V1EnvVarSource(
        field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.name"))),
    k8s.V1EnvVar(name="POD_NAMESPACE", value_from=k8s.V1EnvVarSource(
        field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.namespace"))),
    k8s.V1EnvVar(name="TRACEPARENT", value="{{{{ ti.context_carrier.traceparent }}}}"),
    k8s.V1EnvVar(name="TRACESTATE", value="{{{{ ti.context_carrier.tracestate }}}}"),
]
FAILED = StatusCallback("task.failed", "{name}", "1.0.0")
RETRYING = StatusCallback("task.retrying", "{name}", "1.0.0")


def step(task_id, upstreams):
    inputs = ", ".join(
        f'"{{u}}": {{{{{{{{ ti.xcom_pull(task_ids=\\'{{u}}\\') | tojson }}}}}}}}' for u in upstreams
    )
    arguments = [
        "run-task", "benchmarks._synthetic:Step", "--workflow-name", "{name}",
        "--workflow-version", "1.0.0", "--dag-id", "{dag_id}", "--task-id", task_id,
        "--run-id", "{{{{ run_id }}}}", "--try-number", "{{{{ ti.try_number }}}}",
        "--logical-date", "{{{{ logical_date.isoformat() if logical_date is defined else '' }}}}",
        "--data-interval-start",
        "{{{{ data_interval_start.isoformat() if data_interval_start is defined else '' }}}}",
        "--data-interval-end",
        "{{{{ data_interval_end.isoformat() if data_interval_end is defined else '' }}}}",
        "--run-type", "{{{{ dag_run.run_type.value }}}}",
        "--conf", "{{{{ (dag_run.conf or {{}}) | tojson }}}}",
        "--parameters", "{{{{ params | tojson }}}}",
    ]
    if upstreams:
        arguments += ["--inputs", "{{" + inputs + "}}"]
    return KubernetesPodOperator(
        task_id=task_id, name=task_id.replace("_", "-"), namespace="default", image=IMAGE,
        image_pull_policy="IfNotPresent", cmds=["processing-core"],
        arguments=arguments + ["--result-path", "/airflow/xcom/return.json"],
        kubernetes_conn_id="kubernetes_default",
        labels={{"processing-core/task": task_id, "processing-core/version": "1.0.0",
                "processing-core/workflow": "{name}"}},
        annotations={{"processing-core/task-class": "benchmarks._synthetic:Step",
                     "processing-core/workflow-version": "1.0.0"}},
        env_vars=POD_ENV, container_resources=RESOURCES, do_xcom_push=True, get_logs=True,
        on_finish_action="delete_succeeded_pod", startup_timeout_seconds=600,
        retries=0, retry_delay=timedelta(seconds=300), doc_md="A step of a synthetic workflow.",
        secrets=[Secret("env", "TOKEN", "archive-credentials", "token")],
        on_failure_callback=FAILED, on_retry_callback=RETRYING,
    )


with DAG(dag_id="{dag_id}", schedule=None, tags=["1.0.0", "bench"], catchup=False,
         on_success_callback=StatusCallback("run.succeeded", "{name}", "1.0.0"),
         on_failure_callback=StatusCallback("run.failed", "{name}", "1.0.0")):
    tasks = {{}}
    previous, layer = [], []
    for number in range({tasks}):
        task_id = f"step_{{number}}"
        tasks[task_id] = step(task_id, previous)
        for upstream in previous:
            tasks[upstream] >> tasks[task_id]
        layer.append(task_id)
        if len(layer) == 4:
            previous, layer = layer, []
"""

MEASURE = """
import json, sys, time
import airflow.sdk
import processing_core.airflow_callbacks
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.dag_processing.dagbag import DagBag
start = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - start
assert not bag.import_errors, bag.import_errors
print(json.dumps({"seconds": seconds, "dags": len(bag.dags)}))
"""


def parse_seconds(folder: Path, expected: int) -> float:
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    assert result["dags"] == expected, result
    return result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        generated, hand = Path(root, "generated"), Path(root, "hand")
        hand.mkdir()
        workflows = [synthetic_workflow(i, args.tasks) for i in range(args.files)]
        options = ExportOptions.create(target="kubernetes", settings=load_settings())
        for result in export_workflows(workflows, generated, options):
            text = HAND_WRITTEN.format(
                name=result.workflow.name, dag_id=result.dag_id, tasks=args.tasks
            )
            (hand / result.file_name).write_text(text)
        timings: dict[str, list[float]] = {"generated": [], "hand-written": []}
        for _ in range(args.repeat):  # interleaved, so drift affects both alike
            timings["generated"].append(parse_seconds(generated, args.files))
            timings["hand-written"].append(parse_seconds(hand, args.files))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(f"DagBag over {args.files} files x {args.tasks} tasks (median of {args.repeat}):")
    for name, seconds in medians.items():
        print(f"  {name:<13} {seconds:7.3f} s  ({seconds / args.files * 1000:6.2f} ms/file)")
    ratio = medians["generated"] / medians["hand-written"]
    print(f"  ratio generated / hand-written: {ratio:.2f} (target <= 1.10)")


if __name__ == "__main__":
    main()
