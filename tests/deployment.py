"""A real Airflow deployment for tests: api-server, scheduler, dag-processor and triggerer,
with the LocalExecutor and a PostgreSQL database of its own, every
port on loopback. What `airflow dags test` never shows (the dag-processor re-reading the
DAGs folder, the scheduler finding a DAG gone mid-run, callbacks in the dag-processor) is
seen here."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Hashable
from contextlib import suppress
from pathlib import Path
from typing import Any

import requests
from conftest import VENV_BIN, airflow, subprocess_env
from ports import HeldPort
from services import require_service

PG_HOST, PG_PORT = "127.0.0.1", 5432
PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")


def require_postgres() -> None:
    """Fail under CI=true, skip otherwise, when no PostgreSQL listens at 127.0.0.1:5432."""
    require_service("postgres")


def wait_until(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    explain: Callable[[], str] = lambda: "",
    every: float = 0.5,
    progress: Callable[[], Hashable] | None = None,
) -> Any:
    """Poll `check()` until it returns something truthy; AssertionError naming `what` and
    `explain()` (e.g. a log's tail) after `timeout` seconds.

    With `progress` (something that changes while the work goes on, such as a count of
    events), `timeout` is how long it may stand still instead: a slow or busy machine is not a
    failure, a stall is."""
    last = progress() if progress else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if progress is not None and (current := progress()) != last:
            last, deadline = current, time.monotonic() + timeout
        time.sleep(every)
    still = f" with no progress (last: {last!r})" if progress else ""
    raise AssertionError(f"{what}: not within {timeout} s{still}\n{explain()}")


def stop_group(process: subprocess.Popen[Any], grace: float = 60) -> None:
    """Stop a process started with `start_new_session=True` and its children: SIGTERM, as
    Kubernetes stops a pod, then SIGKILL after `grace` seconds. Airflow 3.3's dag-processor
    can miss a SIGTERM for good: its handler raises SystemExit, and when the signal lands
    while it forks a file processor the exit is raised in logging's at-fork hook, which
    Python reports ("Exception ignored in: _releaseLock") and drops; the loop goes on."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _postgres(statement: str, *params: Any, database: str = "postgres") -> list[tuple[Any, ...]]:
    """Run one statement in `database` (autocommit); the rows it returned."""
    import psycopg2

    connection = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname=database)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement, params or None)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


class Deployment:
    """One Airflow under `root`, reading `dags`; `extra` joins its environment."""

    def __init__(self, root: Path, dags: Path, **extra: str) -> None:
        require_postgres()
        self.root, self.dags = root, dags
        self.home = root / "airflow-home"
        self.home.mkdir(parents=True)
        self.database = f"pc_{uuid.uuid4().hex[:16]}"
        # Held for the deployment's life: its servers bind them, nobody else can (ports.py).
        self.held = {name: HeldPort() for name in ("api", "worker-logs", "trigger-logs")}
        self.port = self.held["api"].port
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(16)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({"admin": self.password}))
        from cryptography.fernet import Fernet

        self.env = subprocess_env(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=(
                f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{self.database}"
            ),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(self.held["worker-logs"].port),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(self.held["trigger-logs"].port),
            # A test does not wait minutes for a folder scan or a re-parse.
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            **extra,
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None
        self.message_prefix = ""
        # (package, version) -> the archive installed: a test that removes a version puts it
        # back from here.
        self.archives: dict[tuple[str, str], Path] = {}

    def start(self) -> Deployment:
        """Migrate the database, start the api-server, then (with an API token in their
        environment, as an operator would give the triggerer) the other processes."""
        _postgres(f'CREATE DATABASE "{self.database}"')
        migrated = airflow(self.env, "db", "migrate")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        self.start_process("api-server")
        self._wait_until_healthy(("api-server",))
        self.env |= {"AIRFLOW_API_URL": self.url, "AIRFLOW_API_TOKEN": self.token()}
        for name in PROCESSES[1:]:
            self.start_process(name)
        self._wait_until_healthy(PROCESSES)
        return self

    def start_process(self, name: str) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [str(VENV_BIN / "airflow"), name], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()  # the child holds its own descriptor

    def stop_process(self, name: str) -> None:
        stop_group(self.processes.pop(name))

    def _wait_until_healthy(self, names: tuple[str, ...]) -> None:
        components = {"scheduler", "dag_processor", "triggerer"} & {
            name.replace("-", "_") for name in names
        }
        deadline = time.monotonic() + 180
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                assert process.poll() is None, f"{name} ended:\n{self.log(name)[-3000:]}"
            try:
                health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
            except (requests.RequestException, ValueError):
                health = {}
            if health and all(
                health.get(component, {}).get("status") == "healthy" for component in components
            ):
                return
            time.sleep(1)
        raise AssertionError(f"Airflow not healthy in 180 s: {health}")

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)
        for held in self.held.values():
            held.release()
        _postgres(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def query(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from the deployment's metadata database: what Airflow stored, for an observer
        that must not depend on how the API presents it."""
        return _postgres(statement, *params, database=self.database)

    # The REST API, as an operator's tools use it.
    def token(self) -> str:
        if self._token is None:
            response = requests.post(
                f"{self.url}/auth/token",
                json={"username": "admin", "password": self.password},
                timeout=30,
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method, f"{self.url}/api/v2/{path}", timeout=30,
            headers={"Authorization": f"Bearer {self.token()}"}, **kwargs,
        )  # fmt: skip
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:2000]}"
        return response.json()

    def wait_for(
        self,
        what: str,
        check: Callable[[], Any],
        timeout: float = 180,
        progress: Callable[[], Hashable] | None = None,
    ) -> Any:
        """Poll `check()` until it returns something truthy; fail naming `what`, with the
        tails of the processes' logs (see `wait_until` for `progress`)."""
        return wait_until(what, check, timeout, lambda: "\n".join(
            f"--- {name}\n{self.log(name)[-2000:]}" for name in self.processes),
            progress=progress)  # fmt: skip

    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.api("GET", "dags", params={"limit": 100})["dags"]}

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        self.api("PATCH", f"dags/{dag_id}", json={"is_paused": False})
        run = self.api("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        listed = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in listed["task_instances"]}


# What the shared deployment serves: (package, versions) bundled for the local target.
INSTALLED = (
    ("gated_pipeline", ("1.0.0", "2.0.0")),
    ("asset_pipeline", ("1.0.0",)),
    ("message_pipeline", ("1.0.0",)),
    ("late_pipeline", ("1.0.0",)),
)


def bundle(root: Path, package: str, version: str, *options: str, **env: str) -> Path:
    """`processing-core bundle` of a test package; the archive's path."""
    from conftest import run_cli

    out = root / "bundles" / uuid.uuid4().hex
    made = run_cli("bundle", package, "--version", version, "--out", str(out), *options, **env)
    assert made.returncode == 0, made.stderr
    (archive,) = out.glob("*.zip")
    return archive


def shared_deployment(root: Path, bus_env: dict[str, str], message_prefix: str) -> Deployment:
    """The session's Airflow: INSTALLED in its DAGs folder, events to the session's bus,
    message_pipeline's queues named by `message_prefix`."""
    from conftest import run_cli

    dags = root / "dags"
    names = {
        "TEST_MESSAGE_PREFIX": message_prefix,
        "ISB_EXCHANGE": bus_env["ISB_EXCHANGE"],
        "DEADLINE_CALLBACK": "chatops:late",  # late_pipeline's deadlines
    }
    archives = {}
    for package, versions in INSTALLED:
        for version in versions:
            archive = bundle(root, package, version, "--target", "local", **names)
            installed = run_cli("install", str(archive), "--dags-folder", str(dags))
            assert installed.returncode == 0, installed.stderr
            archives[package, version] = archive
    deployment = Deployment(root, dags, **bus_env)
    deployment.archives = archives
    return deployment
