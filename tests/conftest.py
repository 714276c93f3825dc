"""Shared fixtures: the repository's paths, exporting the example, running the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
EXAMPLE_VERSION = "1.4.0"

# The sample task modules in tests/ are importable by the subprocesses under test.
sys.path.insert(0, str(TESTS_DIR))


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a real `processing-core` run: this venv first, repo importable."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("BUILD_VERSION", "PIPELINE_", "K8S_", "RESOURCE_PROFILES", "ISB_", "MESH_CONFIG")
        )
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # Events only where a test asks for them (tests/test_events.py, with its own exchange).
    env["EVENTS_ENABLED"] = "false"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)])
    env.update(extra)
    return env


@pytest.fixture(scope="session", autouse=True)
def own_data_home(tmp_path_factory: pytest.TempPathFactory):
    """Data written by a default `data_root` (`Volume.folder` where nothing is mounted) lands
    in the session's temporary folder, never in the home of whoever runs the tests."""
    data_home = tmp_path_factory.mktemp("xdg-data-home")
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(data_home)  # inherited by subprocess_env()
    yield data_home
    if previous is None:
        del os.environ["XDG_DATA_HOME"]
    else:
        os.environ["XDG_DATA_HOME"] = previous


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `java` fails under CI=true, and is skipped otherwise, without Java."""
    if item.get_closest_marker("java") is not None:
        from services import require_java

        require_java()


@pytest.fixture(scope="session", autouse=True)
def airflow_logging_configured_first() -> None:
    """Importing Airflow configures logging (its handlers replace the root logger's). Done
    once before any test, so that it never happens inside a test and drops the handler
    `caplog` put there: a test sees its log whatever ran before it (`-k`, random order)."""
    import importlib.util

    if importlib.util.find_spec("airflow") is not None:
        import airflow  # noqa: F401


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real `airflow` command, in `env` (see airflow_env)."""
    return subprocess.run([str(VENV_BIN / "airflow"), *args], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def airflow_env(home: Path, dags: Path, **extra: str) -> dict[str, str]:
    """An Airflow of its own: its SQLite metadata database in `home` (migrated), reading
    `dags`, no example DAGs."""
    env = subprocess_env(
        AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}", **extra,
    )  # fmt: skip
    migrated = airflow(env, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return env


def run_cli(*args: str, cwd: Path = REPO_ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "processing-core"), *args],
        cwd=cwd,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def export_example(out: Path, target: str = "kubernetes", **env: str) -> list[Path]:
    result = run_cli(
        "export",
        "workflows",
        "--out",
        str(out),
        "--version",
        EXAMPLE_VERSION,
        "--target",
        target,
        **env,
    )
    assert result.returncode == 0, result.stderr
    return sorted(out.glob("*.py"))


@pytest.fixture(scope="session")
def kubernetes_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dags-kubernetes")
    export_example(out, "kubernetes")
    return out


@pytest.fixture(scope="session")
def local_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dags-local")
    export_example(out, "local")
    return out


def export_package(tmp_path: Path, name: str, source: str):
    """Write `source` as package `name` in tmp_path, export it with the CLI, load the files.

    Returns Airflow's DagBag of the exported files, checked for import errors.
    """
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text(source)
    completed = run_cli("export", name, "--out", str(tmp_path / "dags"), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    bag = load_dagbag(tmp_path / "dags")
    assert bag.import_errors == {}
    return bag


def as_ordinary_user() -> list[str]:
    """A command prefix under which file modes bind the process as they bind any user.

    Root reads and writes every file; `setpriv` drops the capabilities that let it (the
    kernel then checks modes as for anyone). Fails under CI=true, skips otherwise, when
    neither applies.
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    message = "running as root without setpriv (util-linux): file modes cannot be tested"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def load_dagbag(folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


def template_context(
    ti: object,
    params: dict | None = None,
    *,
    run_id: str = "manual__1",
    logical_date: datetime | None = None,
    data_interval: tuple[datetime, datetime] | None = None,
    run_type: str = "manual",
    conf: dict | None = None,
    consumed_asset_events: list | None = None,
) -> dict:
    """What Airflow 3's task runner gives templates: the Task SDK's own DagRun model, and the
    date keys only when the run has a logical date (the runner leaves them out otherwise)."""
    from airflow.sdk.api.datamodels._generated import DagRun

    start, end = data_interval or (None, None)
    dag_run = DagRun(
        dag_id="d",
        run_id=run_id,
        logical_date=logical_date,
        data_interval_start=start,
        data_interval_end=end,
        run_after=datetime(2026, 11, 22, tzinfo=UTC),
        start_date=None,
        end_date=None,
        run_type=run_type,
        state="running",
        conf=conf,
        consumed_asset_events=consumed_asset_events or [],
        partition_key=None,
    )
    context = {"run_id": run_id, "ti": ti, "params": params or {}, "dag_run": dag_run}
    if logical_date is not None:
        context |= {
            "logical_date": logical_date,
            "data_interval_start": start,
            "data_interval_end": end,
        }
    return context


@pytest.fixture(scope="session")
def crd_validator():
    """The Spark Operator's SparkApplication schema (v1beta2), from its CRD."""
    import jsonschema
    import yaml

    crd = yaml.safe_load(
        (TESTS_DIR / "schemas" / "sparkoperator.k8s.io_sparkapplications.yaml").read_text()
    )
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta2"]
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])


def option(arguments: list[str], name: str) -> str:
    """The value of `--name=value` among an entrypoint's arguments."""
    (value,) = [a.split("=", 1)[1] for a in arguments if a.startswith(f"--{name}=")]
    return value


@pytest.fixture
def bus():
    """A private exchange and queue on the real RabbitMQ at 127.0.0.1:5672, removed afterwards."""
    from rabbitmq import Bus, require_rabbitmq

    require_rabbitmq()
    bus = Bus()
    yield bus
    bus.delete()


@pytest.fixture
def receiver():
    """A real OTLP/HTTP receiver on loopback."""
    from otlp import Receiver

    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def processing_core_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's wheel, built once per session."""
    wheel_dir = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(wheel_dir), str(REPO_ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheel_dir.glob("processing_core-*.whl")
    return wheel


def fresh_venv(root: Path, *requirements: str) -> Path:
    """A new virtualenv at `root` with `requirements` installed (pip arguments)."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    installed = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def base_venv(tmp_path_factory: pytest.TempPathFactory, processing_core_wheel: Path) -> Path:
    """The wheel installed into a fresh virtualenv without extras: the pipeline image's view."""
    return fresh_venv(tmp_path_factory.mktemp("base-install") / "venv", str(processing_core_wheel))


def clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """Nothing of the development environment: its PATH, PYTHONPATH or settings."""
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "EVENTS_ENABLED": "false",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def airflow_deployment(tmp_path_factory: pytest.TempPathFactory):
    """One real Airflow for the session (tests/deployment.py): api-server, scheduler,
    dag-processor and triggerer on loopback, PostgreSQL, events to its own RabbitMQ queue.
    Yields (deployment, bus)."""
    from deployment import shared_deployment
    from rabbitmq import Bus, require_rabbitmq

    require_rabbitmq()
    root = tmp_path_factory.mktemp("deployment")
    bus = Bus()
    prefix = f"{bus.name}.messages"  # message_pipeline's queues, this session's own
    deployment = shared_deployment(root, bus.env(EVENTS_OUTBOX=str(root / "outbox")), prefix)
    deployment.message_prefix = prefix
    try:
        deployment.start()
        yield deployment, bus
    finally:
        deployment.stop()
        bus.delete()
        names = [
            f"{prefix}.{name}" for name in ("records", "bulk", "held", "burst", "each", "follow")
        ]
        bus.delete_queues(*names, *(f"{name}.dead-letter" for name in names))
