"""Scale: a real dag-processor and scheduler over N generated DAG files, beside N hand-written
twins with the same features, on PostgreSQL.

For each N (default 100, 300, 1000) and each side (alternating which goes first), a fresh
metadata database (cloned from one migrated template) and a fresh DAGs folder of N realistic
workflows (`_synthetic.realistic_workflow`, 10 to 25 tasks, parameters, a volume, secrets,
retries, assets; a third run daily, a third on an asset, a third when triggered; the twins
from `_twin.py`, equal to the generated files in Airflow's serialization) get:

- `airflow dag-processor` (defaults of a deployment: 2 parsing processes): the seconds until
  all N DAGs are serialized in the database, Airflow's own per-file parse duration
  (`dag.last_parse_duration`, median and 95th percentile), the peak memory of the processor
  and its parsing children (RSS summed), the serialized DAGs' size in the database;
- `airflow scheduler`, with the DAGs unpaused and the default pool at 0 slots, so every daily
  workflow has a running DAG run whose first task waits for a slot and is examined on every
  loop (no task runs): the median of its "Ran scheduling loop in ... ms" over a window.

Prints each measure for both sides and the ratios, and how they grow with N. Needs
PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres).

    python benchmarks/bench_scale.py [--sizes 100,300,1000] [--window 40]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._synthetic import realistic_workflow
from benchmarks._twin import hand_written_twin
from processing_core.build_utils import export_workflows
from processing_core.config import load_settings
from processing_core.nodes.dag import ExportOptions

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
AIRFLOW = str(Path(sys.executable).parent / "airflow")
LOOP = re.compile(r"Ran scheduling loop in ([0-9.]+) ms")
SIDES = ("generated", "hand-written")


def sql(statement: str, database: str = "postgres") -> list[tuple[Any, ...]]:
    import psycopg2

    connection = psycopg2.connect(dbname=database, **PG)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def airflow_env(home: Path, dags: Path, database: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__FERNET_KEY=Fernet.generate_key().decode(),
        # No task runs (the default pool has no slot); nothing listens here.
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:9/execution/",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=(
            f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
        ),
    )
    return env


def template_database(root: Path) -> str:
    """A migrated metadata database whose default pool has no slot, to clone for each run."""
    name = f"pc_bench_{uuid.uuid4().hex[:12]}"
    sql(f'CREATE DATABASE "{name}"')
    env = airflow_env(root / "template-home", root / "empty", name)
    (root / "empty").mkdir()
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [AIRFLOW, "pools", "set", "default_pool", "0", "no task runs in the benchmark"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return name


def write_dags(folder: Path, side: str, count: int) -> None:
    folder.mkdir(parents=True)
    workflows = [realistic_workflow(index, 10 + (index * 7) % 16) for index in range(count)]
    options = ExportOptions.create(target="kubernetes", settings=load_settings())
    staging = folder.parent / f"{folder.name}-staging"
    for result in export_workflows(workflows, staging, options):
        source = staging / result.file_name
        if side == "generated":
            shutil.move(source, folder / result.file_name)
        else:
            (folder / result.file_name).write_text(hand_written_twin(result.workflow))
    shutil.rmtree(staging)


def tree_rss(pid: int) -> int:
    import psutil

    try:
        process = psutil.Process(pid)
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):  # a parser that just ended
            total += member.memory_info().rss
    return total


def start(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [AIRFLOW, name], env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Measures:
    serialized_seconds: float
    parse_median_ms: float
    parse_p95_ms: float
    peak_rss_mb: float
    stored_kb_per_dag: float
    loop_median_ms: float
    loops: int
    running_runs: int


def measure(root: Path, template: str, side: str, count: int, window: float) -> Measures:
    work = root / f"{side}-{count}"
    dags = work / "dags"
    write_dags(dags, side, count)
    database = f"pc_bench_{uuid.uuid4().hex[:12]}"
    sql(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    env = airflow_env(work / "home", dags, database)
    processor = scheduler = None
    try:
        began = time.monotonic()
        processor = start("dag-processor", env, work / "dag-processor.log")
        peak = 0
        deadline = began + 60 + count * 2.0
        while True:
            peak = max(peak, tree_rss(processor.pid))
            if processor.poll() is not None:
                raise RuntimeError(f"dag-processor ended; see {work / 'dag-processor.log'}")
            serialized = sql("SELECT count(*) FROM serialized_dag", database)[0][0]
            if serialized >= count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{serialized} of {count} DAGs serialized; see the log")
            time.sleep(0.25)
        serialized_seconds = time.monotonic() - began
        errors = sql("SELECT count(*) FROM import_error", database)[0][0]
        assert errors == 0, f"{errors} import errors ({side}, {count})"
        # Only the scheduler job's own logger at DEBUG: its "Ran scheduling loop" line.
        scheduler_env = env | {
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "airflow.jobs.scheduler_job_runner=DEBUG"
        }
        scheduler = start("scheduler", scheduler_env, work / "scheduler.log")
        window_end = time.monotonic() + window
        while time.monotonic() < window_end:
            peak = max(peak, tree_rss(processor.pid))
            time.sleep(0.5)
        durations = [
            float(match)
            for match in LOOP.findall((work / "scheduler.log").read_text("utf-8", "replace"))
        ]
        # The first loops create the runs; the steady state is what every later loop costs.
        steady = durations[len(durations) // 3 :] or [float("nan")]
        parse = sorted(
            row[0] * 1000
            for row in sql(
                "SELECT last_parse_duration FROM dag WHERE last_parse_duration IS NOT NULL",
                database,
            )
        )
        stored = sql(
            "SELECT avg(octet_length(data::text) + coalesce(octet_length(data_compressed), 0)) "
            "FROM serialized_dag",
            database,
        )[0][0]
        running = sql("SELECT count(*) FROM dag_run WHERE state = 'running'", database)[0][0]
        return Measures(
            serialized_seconds=serialized_seconds,
            parse_median_ms=statistics.median(parse),
            parse_p95_ms=parse[int(len(parse) * 0.95) - 1],
            peak_rss_mb=peak / 2**20,
            stored_kb_per_dag=float(stored or 0) / 1024,
            loop_median_ms=statistics.median(steady),
            loops=len(durations),
            running_runs=running,
        )
    finally:
        for process in (scheduler, processor):
            if process is not None:
                stop(process)
        sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


ROWS = (
    ("serialized_seconds", "all DAGs serialized (s)", "{:8.1f}"),
    ("parse_median_ms", "parse per file, median (ms)", "{:8.1f}"),
    ("parse_p95_ms", "parse per file, p95 (ms)", "{:8.1f}"),
    ("peak_rss_mb", "dag-processor peak RSS (MB)", "{:8.0f}"),
    ("stored_kb_per_dag", "serialized DAG stored (KB)", "{:8.1f}"),
    ("loop_median_ms", "scheduler loop, median (ms)", "{:8.1f}"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--window", type=float, default=40.0, help="seconds of scheduler loops")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[tuple[str, int], Measures] = {}
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        template = template_database(root)
        try:
            for number, count in enumerate(sizes):
                for side in SIDES if number % 2 == 0 else SIDES[::-1]:
                    results[side, count] = measure(root, template, side, count, args.window)
                    print(f"  measured {side} x {count}", file=sys.stderr, flush=True)
        finally:
            sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    for count in sizes:
        generated, hand = results["generated", count], results["hand-written", count]
        print(
            f"\nN = {count} DAG files ({hand.running_runs} running DAG runs; scheduler loops: "
            f"{generated.loops} / {hand.loops})"
        )
        print(f"  {'':<30}{'generated':>10}{'hand':>10}{'ratio':>8}")
        for field, label, fmt in ROWS:
            left, right = getattr(generated, field), getattr(hand, field)
            ratio = left / right if right else float("nan")
            print(f"  {label:<30}{fmt.format(left):>10}{fmt.format(right):>10}{ratio:8.2f}")
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        print(f"\nGrowth from N = {first} to N = {last} (x{last / first:.0f} files):")
        for field, label, _ in ROWS:
            growth = [
                getattr(results[side, last], field) / getattr(results[side, first], field)
                for side in SIDES
            ]
            print(f"  {label:<30} generated x{growth[0]:.2f}   hand-written x{growth[1]:.2f}")


if __name__ == "__main__":
    main()
