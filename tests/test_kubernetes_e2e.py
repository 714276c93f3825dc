"""End to end on Kubernetes: the example exported for the `kubernetes` target runs under
`airflow dags test`, the provider's own KubernetesPodOperator and SparkKubernetesOperator
talking to the loopback Kubernetes API of tests/loopback_kubernetes.py, whose pods run the
pipeline image (the wheel and the example, without Airflow) as local processes.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import (
    EXAMPLE_VERSION,
    REPO_ROOT,
    TESTS_DIR,
    VENV_BIN,
    airflow,
    airflow_env,
    export_example,
    fresh_venv,
    run_cli,
)
from loopback_kubernetes import Image, LoopbackKubernetes, namespaces_available
from otlp import attributes
from rabbitmq import Bus, require_rabbitmq
from services import missing

# namespaces: its pods run in mount and PID namespaces of their own (root, unshare).
pytestmark = [pytest.mark.slow, pytest.mark.namespaces, pytest.mark.java]
IMAGE = f"workflows:{EXAMPLE_VERSION}"
L1_DAG = f"l0_to_l1_vbi_{EXAMPLE_VERSION}"
SETTINGS_CONFIG_MAP = "processing-core-settings"
SITE = "lib/python3.11/site-packages"
CANARY = "canary-4f1e9b7d"
FAILURES_IMAGE, FAILURES_DAG = "pod-failures:1.0.0", "pods_to_failures_kubernetes_1.0.0"
DURABLE_IMAGE, DURABLE_DAG = "pod-durable:1.0.0", "pods_to_durable_kubernetes_1.0.0"


def require_namespaces() -> None:
    why = namespaces_available()
    if why is None:
        return
    missing(f"pods of the loopback Kubernetes API cannot run here: {why}")


@pytest.fixture(scope="session")
def pipeline_image(tmp_path_factory: pytest.TempPathFactory, processing_core_wheel: Path) -> Image:
    """The example's image: the wheel without extras, pyspark (as the Spark base image has it)
    and the example package, in a virtualenv of their own; spark_main where the export says."""
    require_namespaces()
    venv = fresh_venv(tmp_path_factory.mktemp("image") / "venv", str(processing_core_wheel))
    (site,) = venv.glob("lib/python*/site-packages")
    dev_site = Path(VENV_BIN.parent, SITE)
    for name in os.listdir(dev_site):  # what `pip install pyspark` put there, copied
        if name.startswith(("pyspark", "py4j")) and not name.startswith("pyspark_client"):
            source = dev_site / name
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, site / name)
    shutil.copytree(REPO_ROOT / "workflows", site / "workflows")
    for package in ("pod_failures", "pod_durable"):
        shutil.copytree(TESTS_DIR / package, site / package)
    spark_main = subprocess.run(
        [str(venv / "bin" / "processing-core"), "spark-main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    spark_home = site / "pyspark"
    return Image(
        python_env=venv,
        files={"/opt/processing-core/spark_main.py": Path(spark_main)},
        env={
            "SPARK_HOME": str(spark_home),
            "PATH": f"{venv / 'bin'}:{spark_home / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        },
    )


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, pipeline_image: Image
) -> Iterator[LoopbackKubernetes]:
    images = dict.fromkeys((IMAGE, FAILURES_IMAGE, DURABLE_IMAGE), pipeline_image)
    api = LoopbackKubernetes(tmp_path_factory.mktemp("cluster"), images).start()
    yield api
    api.stop()
    assert api.defects == []


@pytest.fixture(scope="module")
def kubernetes_home(
    tmp_path_factory: pytest.TempPathFactory, cluster: LoopbackKubernetes
) -> dict[str, str]:
    """An Airflow (SQLite) whose `kubernetes_default` connection is the loopback API, reading
    the example exported for the kubernetes target with the settings ConfigMap attached."""
    home = tmp_path_factory.mktemp("airflow-kubernetes")
    dags = home / "dags"
    export_example(dags, "kubernetes", K8S_ENV_FROM_CONFIGMAPS=SETTINGS_CONFIG_MAP)
    kubeconfig = cluster.kubeconfig(home / "kubeconfig")
    return airflow_env(
        home, dags, AIRFLOW_CONN_KUBERNETES_DEFAULT=cluster.airflow_connection(kubeconfig)
    )


def query(env: dict[str, str], sql: str, *params: Any) -> list[tuple]:
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as connection:
        return connection.execute(sql, params).fetchall()


def task_states(env: dict[str, str], dag_id: str, run_id: str) -> dict[str, str]:
    sql = "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?"
    return dict(query(env, sql, dag_id, run_id))


def xcom_results(env: dict[str, str], dag_id: str, run_id: str) -> dict[str, dict]:
    sql = "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'"
    return {task: json.loads(value) for task, value in query(env, sql, dag_id, run_id)}


def dags_test(
    env: dict[str, str], dag_id: str, conf: dict, date: str
) -> subprocess.CompletedProcess[str]:
    return airflow(env, "dags", "test", dag_id, date, "--conf", json.dumps(conf))


def run_id_of(env: dict[str, str], dag_id: str, date: str) -> str:
    (row,) = query(
        env,
        "SELECT run_id FROM dag_run WHERE dag_id = ? AND logical_date LIKE ?",
        dag_id,
        date[:19].replace("T", " ") + "%",
    )
    return str(row[0])


def test_the_example_runs_as_pods_and_a_spark_application(
    cluster, kubernetes_home, receiver, tmp_path
):
    require_rabbitmq()
    bus = Bus()
    date = "2026-11-02T06:00:00+00:00"
    cluster.put_config_map(
        "default",
        SETTINGS_CONFIG_MAP,
        {
            **bus.env(EVENTS_OUTBOX="/tmp/outbox"),
            **receiver.env(),
        },
    )
    # Publish's SecretRef: served by the API, never seen by Airflow.
    cluster.put_secret("default", "archive-credentials", {"token": CANARY})
    try:
        airflow_side = {**kubernetes_home, **bus.env(EVENTS_OUTBOX=str(tmp_path / "outbox"))}
        completed = dags_test(airflow_side, L1_DAG, {"frame_size": 8}, date)
        events = [json.loads(body) for _, _, body in bus.messages(expected=100, timeout=3)]
    finally:
        bus.delete()
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    run_id = run_id_of(kubernetes_home, L1_DAG, date)
    tasks = ["ingest", "calibrate", "quality_check", "make_products", "frame_statistics", "publish"]
    assert task_states(kubernetes_home, L1_DAG, run_id) == dict.fromkeys(tasks, "success")
    # One pod per task and try, as the operator asked for them: five task pods, one driver.
    created = pods_of_run(cluster, run_id)
    names = sorted(labels(p)["task_id"] for p in created)
    assert names == sorted(tasks)
    (driver,) = [p for p in created if labels(p).get("spark-role") == "driver"]
    assert driver["spec"]["containers"][0]["command"] == ["spark-submit"]
    assert "/opt/processing-core/spark_main.py" in driver["spec"]["containers"][0]["args"]
    # Results travelled through each pod's XCom sidecar into Airflow and on to the next pod.
    results = xcom_results(kubernetes_home, L1_DAG, run_id)
    assert {r["status"] for r in results.values()} == {"success"}
    assert results["ingest"]["outputs"]["frame_size"] == 8
    assert results["calibrate"]["outputs"]["frame_count"] == 4
    assert results["frame_statistics"]["metrics"] == {"pixels": 4 * 8 * 8}
    # This run's folder: other tests' runs of the example write beside it.
    from workflows.frames import run_folder_name

    run_folder = cluster.claim("vbi-processing-data") / "processing" / run_folder_name(run_id)
    manifest = json.loads((run_folder / "manifest.json").read_text())
    assert manifest["statistics"] == results["frame_statistics"]["outputs"]
    assert manifest["quality"] == results["quality_check"]["outputs"]
    assert manifest["logical_date"] == date
    assert manifest["authenticated"] is True  # the Secret reached the pod's environment
    assert CANARY not in output + json.dumps(results) + json.dumps(events)
    # The pods' logs (JSON lines, for a cluster's log collector) streamed into the task logs.
    for task in tasks:
        assert f'"message": "Task {task} succeeded"' in output
    # Status events as on the local target, from inside the pods and from Airflow.
    seen = {(e["source"], e["kind"], e["task_id"]) for e in events}
    for task in tasks:
        assert ("task", "task.started", task) in seen
        assert ("task", "task.succeeded", task) in seen
    assert ("airflow", "run.succeeded", None) in seen
    # Spans: a task span per task, its resource naming the pod it ran in (the downward API).
    spans = receiver.wait_for_spans(len(tasks))
    pod_of_task = {labels(p)["task_id"]: p["metadata"]["name"] for p in created}
    span_pods = {
        span.name: attributes(resource.attributes)["k8s.pod.name"]
        for resource, span in spans
        if span.name.startswith("task ")
    }
    assert span_pods == {f"task {task}": pod_of_task[task] for task in tasks}


def export_failures(home: Path, **env: str) -> dict[str, str]:
    dags = home / "dags"
    exported = run_cli(
        "export",
        "pod_failures",
        "--out",
        str(dags),
        "--target",
        "kubernetes",
        K8S_ENV_FROM_CONFIGMAPS=SETTINGS_CONFIG_MAP,
        **env,
    )
    assert exported.returncode == 0, exported.stderr
    return airflow_env(home, dags)


def delete_first_pod_once_running(cluster: LoopbackKubernetes, task_id: str) -> threading.Thread:
    """`kubectl delete pod` of the task's first pod while it runs, from another thread."""

    def delete() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            for pod in cluster.pods(labels=f"task_id={task_id},try_number=1"):
                if pod["status"].get("phase") == "Running":
                    cluster.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], None)
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=delete, daemon=True)
    thread.start()
    return thread


def test_why_a_pod_failed_reaches_task_failed_and_the_task_log(cluster, tmp_path):
    require_rabbitmq()
    bus = Bus()
    cluster.put_config_map("default", SETTINGS_CONFIG_MAP, bus.env(EVENTS_OUTBOX="/tmp/outbox"))
    env = export_failures(tmp_path / "home")
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
    env |= bus.env(
        EVENTS_OUTBOX=str(tmp_path / "outbox"),
        AIRFLOW_CONN_KUBERNETES_DEFAULT=cluster.airflow_connection(kubeconfig),
    )
    date = "2026-11-03T06:00:00+00:00"
    deleter = delete_first_pod_once_running(cluster, "deleted_pod")
    try:
        completed = dags_test(env, FAILURES_DAG, {}, date)
        events = [json.loads(body) for _, _, body in bus.messages(expected=100, timeout=3)]
    finally:
        bus.delete()
    deleter.join(1)
    output = completed.stdout + completed.stderr
    (tmp_path / "airflow-dags-test.log").write_text(output)  # to read when this fails
    run_id = run_id_of(env, FAILURES_DAG, date)
    assert task_states(env, FAILURES_DAG, run_id) == {
        "fails": "failed",
        "over_memory": "failed",
        "outlives_timeout": "failed",
        "deleted_pod": "success",
    }, output[-6000:]
    failed = {
        e["task_id"]: e for e in events if (e["source"], e["kind"]) == ("airflow", "task.failed")
    }
    own = {e["task_id"]: e for e in events if (e["source"], e["kind"]) == ("task", "task.failed")}
    # A non-zero exit: the task's own event says why; the container ended with reason Error.
    assert own["fails"]["error"]["message"] == "failed on purpose in its pod"
    # The memory limit: the kernel's kill, as the cluster reports it, reaches the event.
    assert failed["over_memory"]["error"]["type"] == "OOMKilled"
    assert "OOMKilled" in output
    of_run = pods_of_run(cluster, run_id)
    (hog,) = [p for p in of_run if labels(p).get("task_id") == "over_memory"]
    (state,) = [
        s["state"]["terminated"]
        for s in cluster.final_status(hog)["containerStatuses"]
        if s["name"] == "base"
    ]
    assert (state["reason"], state["exitCode"]) == ("OOMKilled", 137)
    # Killed by Airflow (its execution_timeout): the operator deleted the pod.
    assert failed["outlives_timeout"]["error"]["type"] == "Timeout"
    (slow,) = [p for p in of_run if labels(p).get("task_id") == "outlives_timeout"]
    assert cluster.was_deleted(slow)
    # A pod deleted under its task: the try fails, the retry runs in a new pod of its own.
    retried = [p for p in of_run if labels(p).get("task_id") == "deleted_pod"]
    assert [labels(p)["try_number"] for p in retried] == ["1", "2"]
    assert retried[0]["metadata"]["uid"] != retried[1]["metadata"]["uid"]
    assert xcom_results(env, FAILURES_DAG, run_id)["deleted_pod"]["outputs"] == {"try": 2}
    (retrying,) = [e for e in events if (e["source"], e["kind"]) == ("airflow", "task.retrying")]
    assert retrying["task_id"] == "deleted_pod"
    assert retrying["error"]["type"] == "PodDeleted"
    assert (
        retrying["error"]["message"] == f"Pod {retried[0]['metadata']['name']} returned a failure."
    )
    assert ("airflow", "task.retrying", "deleted_pod") in {
        (e["source"], e["kind"], e["task_id"]) for e in events
    }


def test_an_unknown_image_fails_the_try_at_once_saying_so(cluster, tmp_path):
    require_rabbitmq()
    bus = Bus()
    cluster.put_config_map("default", SETTINGS_CONFIG_MAP, {})
    env = export_failures(tmp_path / "home", PIPELINE_IMAGE_REPOSITORY="registry.invalid/pods")
    dag_file = (tmp_path / "home" / "dags" / f"{FAILURES_DAG}.py").read_text()
    assert "startup_timeout_seconds=45," in dag_file  # FailsOnPurpose's declaration
    kubeconfig = cluster.kubeconfig(tmp_path / "kubeconfig")
    env |= bus.env(
        EVENTS_OUTBOX=str(tmp_path / "outbox"),
        AIRFLOW_CONN_KUBERNETES_DEFAULT=cluster.airflow_connection(kubeconfig),
    )
    try:
        completed = dags_test(env, FAILURES_DAG, {}, "2026-11-04T06:00:00+00:00")
        events = [json.loads(body) for _, _, body in bus.messages(expected=100, timeout=3)]
    finally:
        bus.delete()
    output = completed.stdout + completed.stderr
    (tmp_path / "airflow-dags-test.log").write_text(output)  # to read when this fails
    assert completed.returncode != 0
    # The provider fails the try at the first ErrImagePull that is not transient, with the
    # cluster's own words, rather than waiting out the startup timeout.
    assert "Image cannot be pulled, unable to start: ErrImagePull" in output
    assert 'failed to pull and unpack image "registry.invalid/pods:1.0.0"' in output
    assert "Waiting 45s to get the POD running" in output
    failed = [e for e in events if (e["source"], e["kind"]) == ("airflow", "task.failed")]
    assert sorted(e["task_id"] for e in failed) == [
        "deleted_pod",
        "fails",
        "outlives_timeout",
        "over_memory",
    ]
    assert {e["error"]["type"] for e in failed} == {"ErrImagePull"}
    # Nothing ran: no task of its own ever started in a pod.
    assert not [e for e in events if e["source"] == "task"]


@pytest.fixture(scope="module")
def durable_deployment(airflow_deployment, cluster, tmp_path_factory):
    """The session's Airflow (scheduler, LocalExecutor workers) with pod_durable's DAG and the
    example's L1 DAG, exported for the kubernetes target, and a connection of their own to the
    loopback API."""
    deployment, _ = airflow_deployment
    tmp_path = tmp_path_factory.mktemp("kubernetes-deployment")
    settings = f"{SETTINGS_CONFIG_MAP}-deployment"  # its own: the other tests change theirs
    cluster.put_config_map("default", settings, {"EVENTS_ENABLED": "false"})
    cluster.put_secret("default", "archive-credentials", {"token": CANARY})
    conn_id = f"loopback_{uuid.uuid4().hex[:8]}"
    extra = {"kube_config_path": str(cluster.kubeconfig(tmp_path / "kubeconfig"))}
    deployment.api(
        "POST",
        "connections",
        json={"connection_id": conn_id, "conn_type": "kubernetes", "extra": json.dumps(extra)},
    )
    installed = []
    for package, dag_id in (("pod_durable", DURABLE_DAG), ("workflows", L1_DAG)):
        exported = run_cli(
            "export",
            package,
            "--out",
            str(tmp_path / package),
            "--target",
            "kubernetes",
            "--version",
            dag_id.rsplit("_", 1)[1],
            K8S_CONN_ID=conn_id,
            K8S_ENV_FROM_CONFIGMAPS=settings,
        )
        assert exported.returncode == 0, exported.stderr
        installed.append(deployment.dags / f"{dag_id}.py")
        shutil.copy(tmp_path / package / installed[-1].name, installed[-1])
    deployment.wait_for("the DAGs parsed", lambda: {DURABLE_DAG, L1_DAG} <= deployment.dag_ids())
    yield deployment
    for dag_file in installed:
        dag_file.unlink()
    requests.delete(
        f"{deployment.url}/api/v2/connections/{conn_id}",
        timeout=30,
        headers={"Authorization": f"Bearer {deployment.token()}"},
    )


def test_the_example_runs_on_the_loopback_cluster_in_a_real_deployment(durable_deployment, cluster):
    deployment = durable_deployment
    run_id = deployment.trigger(L1_DAG, {"frame_size": 8})
    deployment.wait_for(
        "the run ended",
        lambda: deployment.run_state(L1_DAG, run_id) in ("success", "failed"),
        timeout=300,
    )
    states = deployment.task_states(L1_DAG, run_id)
    assert set(states.values()) == {"success"}, states
    ran = pods_of_run(cluster, run_id)
    assert sorted(labels(p)["task_id"] for p in ran) == sorted(states)


def kill_the_worker_once_its_pod_runs(deployment, cluster, run_id: str) -> dict[str, Any]:
    """SIGKILL the task's process (the worker following the pod) while the pod runs; the
    pod as it was."""

    def running_pod_and_pid():
        pod = running_pod_of(cluster, run_id)
        rows = deployment.query(
            "SELECT pid FROM task_instance WHERE dag_id = %s AND run_id = %s AND try_number = 1"
            " AND state = 'running'", DURABLE_DAG, run_id)  # fmt: skip
        return (pod, rows[0][0]) if pod and rows and rows[0][0] else None

    pod, pid = deployment.wait_for("the task's pod running", running_pod_and_pid, timeout=120)
    os.kill(pid, signal.SIGKILL)
    return pod


def xcom_of(deployment, run_id: str) -> Any:
    entry = deployment.api(
        "GET",
        f"dags/{DURABLE_DAG}/dagRuns/{run_id}/taskInstances/outlives_worker/xcomEntries/return_value",
    )
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def release_once_the_second_try_runs(deployment, cluster, run_id: str) -> None:
    """Let the task's pod finish (pod_durable waits for this file), once try 2 is running."""
    from pod_durable import release_name

    deployment.wait_for("the second try running", lambda: deployment.query(
        "SELECT 1 FROM task_instance WHERE dag_id = %s AND run_id = %s AND try_number = 2"
        " AND state = 'running'", DURABLE_DAG, run_id), timeout=120)  # fmt: skip
    (cluster.claim("durable-releases") / release_name(run_id)).touch()


def test_a_try_whose_worker_died_reattaches_to_its_own_pod(durable_deployment, cluster):
    deployment = durable_deployment
    before = len(cluster.pods_created)
    run_id = deployment.trigger(DURABLE_DAG, {})
    first = kill_the_worker_once_its_pod_runs(deployment, cluster, run_id)
    release_once_the_second_try_runs(deployment, cluster, run_id)
    deployment.wait_for(
        "the run succeeded",
        lambda: deployment.run_state(DURABLE_DAG, run_id) == "success",
        timeout=240,
    )
    (ti,) = deployment.query(
        "SELECT try_number, state FROM task_instance WHERE dag_id = %s AND run_id = %s",
        DURABLE_DAG,
        run_id,
    )
    assert ti == (2, "success")  # the second try finished the task ...
    created = cluster.pods_created[before:]
    # ... by following the first try's pod: no second pod was started.
    assert [p["metadata"]["uid"] for p in created] == [first["metadata"]["uid"]]
    assert xcom_of(deployment, run_id)["outputs"] == {"pod": first["metadata"]["name"], "try": 1}


def test_a_pod_made_under_the_same_name_is_never_adopted(durable_deployment, cluster):
    deployment = durable_deployment
    before = len(cluster.pods_created)
    run_id = deployment.trigger(DURABLE_DAG, {})
    first = kill_the_worker_once_its_pod_runs(deployment, cluster, run_id)
    meta = first["metadata"]
    # Before the retry (8 s later): the pod goes, and another is made under its name, as a
    # pod of something else would be. Its result must never become this task's.
    cluster.delete_pod(meta["namespace"], meta["name"], 0)
    deployment.wait_for(
        "the first pod gone",
        lambda: (
            not cluster.pods(labels=f"task_id=outlives_worker,run_id={meta['labels']['run_id']}")
        ),
        timeout=30,
    )
    impostor = copy.deepcopy(
        {
            "metadata": {"name": meta["name"], "labels": {"made-by": "someone-else"}},
            "spec": first["spec"],
        }
    )
    impostor["spec"]["containers"][0] |= {
        "image": "alpine",
        "command": ["sh", "-c"],
        "args": [
            'echo \'{"status": "success", "outputs": {"impostor": true}}\' > /airflow/xcom/return.json'
        ],
    }
    cluster.create_pod(meta["namespace"], impostor)
    release_once_the_second_try_runs(deployment, cluster, run_id)
    deployment.wait_for(
        "the run ended",
        lambda: deployment.run_state(DURABLE_DAG, run_id) in ("success", "failed"),
        timeout=240,
    )
    assert deployment.run_state(DURABLE_DAG, run_id) == "success"
    assert xcom_of(deployment, run_id)["outputs"]["try"] == 2  # from a pod of its own
    created = [p for p in cluster.pods_created[before:] if labels(p).get("run_id")]
    assert [p["metadata"]["labels"]["try_number"] for p in created] == ["1", "2"]
    (mine,) = [p for p in cluster.pods(labels="made-by=someone-else")]
    assert "already_checked" not in mine["metadata"]["labels"]  # nobody touched it


def test_the_loopback_api_answers_as_kubernetes_does(cluster, tmp_path):
    """The stand-in itself, through the real kubernetes client: phases and exit codes by
    Kubernetes' rules, watch, exec's channels and status, and a strict pod schema."""
    from kubernetes import client, config, watch
    from kubernetes.client.exceptions import ApiException
    from kubernetes.stream import stream

    api = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig(tmp_path / "k"))))
    name = f"rules-{uuid.uuid4().hex[:8]}"

    def pod(pod_name: str, script: str, **container: Any) -> dict[str, Any]:
        base = {"name": "base", "image": "alpine", "command": ["sh", "-c", script], **container}
        return {
            "metadata": {"name": pod_name},
            "spec": {"restartPolicy": "Never", "containers": [base]},
        }

    api.create_namespaced_pod("default", pod(name, "sleep 1; exit 3"))
    phases = []
    for event in watch.Watch().stream(
        api.list_namespaced_pod,
        "default",
        field_selector=f"metadata.name={name}",
        timeout_seconds=30,
    ):
        phases.append(event["object"].status.phase)
        if event["object"].status.phase == "Failed":
            break
    assert phases[0] == "Pending" and "Running" in phases and phases[-1] == "Failed"
    (status,) = api.read_namespaced_pod(name, "default").status.container_statuses
    assert (status.state.terminated.reason, status.state.terminated.exit_code) == ("Error", 3)
    api.delete_namespaced_pod(name, "default", grace_period_seconds=0)
    # exec runs in the container (its own PID namespace: process 1 is the container's sh)
    running = f"{name}-exec"
    api.create_namespaced_pod("default", pod(running, "sleep 60"))
    wait_until_running = time.monotonic() + 30
    while api.read_namespaced_pod(running, "default").status.phase != "Running":
        assert time.monotonic() < wait_until_running
        time.sleep(0.1)
    out = stream(
        api.connect_get_namespaced_pod_exec,
        running,
        "default",
        container="base",
        command=["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo oops >&2; exit 4"],
        stdin=False,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    out.run_forever(timeout=10)
    assert out.read_stdout().strip() == "sh -c sleep 60"
    assert out.read_stderr().strip() == "oops"
    assert out.returncode == 4
    api.delete_namespaced_pod(running, "default", grace_period_seconds=0)
    # a Secret that is not there: the container waits, as a kubelet reports it
    missing = f"{name}-secret"
    api.create_namespaced_pod(
        "default",
        pod(
            missing,
            "true",
            env=[
                {
                    "name": "TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": "not-there", "key": "token"}},
                }
            ],
        ),
    )
    deadline = time.monotonic() + 30
    while not api.read_namespaced_pod(missing, "default").status.container_statuses:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (waiting,) = api.read_namespaced_pod(missing, "default").status.container_statuses
    assert waiting.state.waiting.reason == "CreateContainerConfigError"
    api.delete_namespaced_pod(missing, "default", grace_period_seconds=0)
    # a pod the schema refuses
    with pytest.raises(ApiException) as refused:
        api.create_namespaced_pod(
            "default",
            {
                "metadata": {"name": f"{name}-bad"},
                "spec": {"containers": [{"name": "x", "imag": "y"}]},
            },
        )
    assert refused.value.status == 422


def test_a_task_marked_failed_in_airflow_deletes_its_pod(durable_deployment, cluster):
    deployment = durable_deployment
    run_id = deployment.trigger(DURABLE_DAG, {})

    pod = deployment.wait_for(
        "the task's pod running", lambda: running_pod_of(cluster, run_id), timeout=120
    )
    # What "Mark as failed" in the UI does: the worker is told to stop the task.
    path = f"dags/{DURABLE_DAG}/dagRuns/{run_id}/taskInstances/outlives_worker"
    deployment.api("PATCH", path, json={"new_state": "failed"})
    deployment.wait_for("the pod deleted", lambda: cluster.was_deleted(pod), timeout=60)
    deployment.wait_for(
        "the run ended", lambda: deployment.run_state(DURABLE_DAG, run_id) == "failed"
    )


def running_pod_of(cluster: LoopbackKubernetes, run_id: str) -> dict[str, Any] | None:
    """The durable task's pod of this run, once it runs."""
    pods = [p for p in cluster.pods(labels=f"task_id=outlives_worker,run_id={pod_label(run_id)}")
            if p["status"].get("phase") == "Running"]  # fmt: skip
    return pods[0] if pods else None


def labels(pod: dict) -> dict:
    """A pod's labels: none for a pod made without (a test's own, on the shared cluster)."""
    return pod["metadata"].get("labels") or {}


def pods_of_run(cluster, run_id: str) -> list[dict]:
    """The pods the operator made for one run, by its label: whatever other tests made on the
    session's cluster before (in any order)."""
    return [p for p in cluster.pods_created if labels(p).get("run_id") == pod_label(run_id)]


def pod_label(run_id: str) -> str:
    """A run id as the provider writes it into a pod label."""
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    return make_safe_label_value(run_id)


QUICKLOOK_DAG = f"l0_to_quicklook_vbi_{EXAMPLE_VERSION}"


def test_a_mapped_node_runs_one_pod_per_frame_and_its_downstream_gets_them_in_order(
    cluster, kubernetes_home
):
    """The example's quick look maps FrameQuickLook over calibrate.frames: the provider's
    mapped KubernetesPodOperator makes one pod per frame, and the summary gets their results."""
    cluster.put_config_map("default", SETTINGS_CONFIG_MAP, {"EVENTS_ENABLED": "false"})
    date = "2026-11-05T06:00:00+00:00"
    before = len(cluster.pods_created)
    completed = dags_test(kubernetes_home, QUICKLOOK_DAG, {"frame_size": 4, "frame_count": 3}, date)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    run_id = run_id_of(kubernetes_home, QUICKLOOK_DAG, date)
    instances = query(
        kubernetes_home,
        "SELECT map_index, state, rendered_map_index FROM task_instance WHERE dag_id = ? AND "
        "run_id = ? AND task_id = 'frame_quick_look' ORDER BY map_index",
        QUICKLOOK_DAG,
        run_id,
    )
    assert instances == [(i, "success", f"frame {i}") for i in range(3)]
    # The pods the operator asked for: one per instance, each labelled with its map index,
    # each with the class's own resources.
    created = [
        p for p in cluster.pods_created[before:]
        if labels(p).get("task_id") == "frame_quick_look"
    ]  # fmt: skip
    assert sorted(labels(p)["map_index"] for p in created) == ["0", "1", "2"]
    assert len({p["metadata"]["name"] for p in created}) == 3
    for pod in created:
        (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "base"]
        assert container["resources"]["requests"] == {"cpu": "250m", "memory": "256Mi"}
        assert f"--map-index={pod['metadata']['labels']['map_index']}" in container["args"]
        assert cluster.final_status(pod)["phase"] == "Succeeded"
    # The instances' results reached the summary's pod, in map order.
    summary = xcom_results(kubernetes_home, QUICKLOOK_DAG, run_id)["quick_look_summary"]
    assert summary["outputs"]["frames"] == [0, 1, 2]
    # The pods' JSON log lines say which instance they are.
    assert '"map_index": 2' in output
