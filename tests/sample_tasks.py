"""Task classes the run-task and export tests run for real (importable as `sample_tasks`)."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from processing_core import Asset, Resources, SecretRef, SparkResources, SparkTaskBase, TaskBase


class Echo(TaskBase):
    """Reports its parameters, inputs and identity as outputs."""

    def run(self) -> None:
        self.outputs = {
            "parameters": dict(self.parameters),
            "inputs": {k: dict(v) for k, v in self.inputs.items()},
            "identity": [self.workflow_name, self.workflow_version, self.run_id, self.try_number],
        }
        self.metrics = {"answer": 42}


class Chatty(Echo):
    def run(self) -> None:
        print("progress: 50%", end="")
        super().run()


class MarkerTask(TaskBase):
    """Writes marker files (pre_run, run, post_run, rollback, close) to `parameters['markers']`."""

    def _mark(self, name: str) -> None:
        folder = Path(self.parameters["markers"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(self.task_id)

    def pre_run(self) -> None:
        self._mark("pre_run")

    def run(self) -> None:
        self._mark("run")

    def post_run(self) -> None:
        self._mark("post_run")

    def rollback(self) -> None:
        self._mark("rollback")

    def close(self) -> None:
        self._mark("close")


class Failing(MarkerTask):
    def run(self) -> None:
        super().run()
        raise RuntimeError("calibration frames are missing")


class Sleeping(MarkerTask):
    def run(self) -> None:
        super().run()
        time.sleep(60)


class BadOutputs(MarkerTask):
    def run(self) -> None:
        self.outputs = {"when": object()}


class HugeOutputs(MarkerTask):
    def run(self) -> None:
        self.outputs = {"pixels": [0.5] * 100_000}


class Declared(TaskBase):
    """A task declaring everything a task can declare."""

    retries = 3
    retry_delay = timedelta(seconds=45)
    retry_exponential_backoff = 2.0
    max_retry_delay = timedelta(minutes=10)
    execution_timeout = timedelta(minutes=30)
    resource_profile = "gpu"
    resources = Resources(
        cpu_request="500m",
        cpu_limit="2",
        memory_request="1Gi",
        memory_limit="2Gi",
        ephemeral_storage_request="1Gi",
        gpus=1,
    )
    secrets = {
        "DB_PASSWORD": SecretRef(secret="db-credentials", key="password"),
        "API_TOKEN": SecretRef(secret="api.tokens", key="token.v1"),
    }

    def run(self) -> None:
        self.outputs = {"ok": True}


class SparkCount(SparkTaskBase):
    """Counts to `parameters['n']` with Spark; fails after counting if `parameters['fail']`."""

    spark_resources = SparkResources(spark_conf={"spark.sql.shuffle.partitions": "2"})

    def run(self) -> None:
        self.session_seen = self.spark
        self.outputs = {"count": self.spark.range(self.parameters["n"]).count()}
        if self.parameters.get("fail"):
            raise RuntimeError("spark task failed on purpose")

    def rollback(self) -> None:
        self.rolled_back_with_session = self._spark is not None


class SparkFails(SparkTaskBase):
    """Counts with Spark, then fails: its message must reach Airflow through spark-submit."""

    def run(self) -> None:
        count = self.spark.range(3).count()
        raise RuntimeError(f"counted {count}, then failed on purpose")


class SparkSized(SparkTaskBase):
    spark_resources = SparkResources(
        executor_memory="3g",
        executor_cores=2,
        min_executors=1,
        max_executors=6,
        initial_executors=2,
        spark_conf={"spark.sql.adaptive.enabled": "true"},
        driver_annotations={"team.example.org/owner": "imaging", "shared": "from-class"},
    )
    retries = 2
    secrets = {"DB_PASSWORD": SecretRef(secret="db-credentials", key="password")}

    def run(self) -> None:
        pass


class Traced(TaskBase):
    """Opens its own span and logs, once, the value of its secret (which must be masked)."""

    secrets = {"DB_PASSWORD": SecretRef(secret="db-credentials", key="password")}

    def run(self) -> None:
        import logging
        import os

        from loguru import logger

        with self.telemetry_span("fit model"):
            logger.info("connecting with password {}", os.environ.get("DB_PASSWORD"))
            logging.getLogger("some.library").warning("library says hello")
        self.outputs = {"fitted": True}


# -- hostile and unlucky tasks: every outcome must leave a result and a final event ---------
class ExitsZero(MarkerTask):
    def run(self) -> None:
        super().run()
        sys.exit(0)


class ExitsNinetyNine(MarkerTask):
    def run(self) -> None:
        super().run()
        sys.exit(99)


class Interrupted(MarkerTask):
    def run(self) -> None:
        super().run()
        raise KeyboardInterrupt


class BrokenInit(TaskBase):
    secrets = {"DB_PASSWORD": SecretRef(secret="db-credentials", key="password")}

    def __init__(self, context) -> None:
        raise RuntimeError(f"cannot start with {os.environ.get('DB_PASSWORD')}")

    def run(self) -> None:  # pragma: no cover - never reached
        pass


class DeeplyNested(TaskBase):
    def run(self) -> None:
        nested: list = []
        for _ in range(100_000):
            nested = [nested]
        self.outputs = {"nested": nested}


class FailingRollback(MarkerTask):
    def run(self) -> None:
        super().run()
        raise ValueError("the original problem")

    def rollback(self) -> None:
        super().rollback()
        raise RuntimeError("rollback broke too")


class FailingClose(MarkerTask):
    def close(self) -> None:
        super().close()
        raise OSError("cannot close the archive connection")


class SlowRollback(MarkerTask):
    """Fails; its rollback takes a while, and must finish even if SIGTERM arrives meanwhile."""

    def run(self) -> None:
        super().run()
        raise RuntimeError("failed before SIGTERM")

    def rollback(self) -> None:
        self._mark("rollback-started")
        time.sleep(2)
        self._mark("rollback")


class ClosesStdout(Echo):
    def run(self) -> None:
        super().run()
        print("about to close stdout", flush=True)
        sys.stdout.close()


class LeaksSecrets(TaskBase):
    """Puts every secret it can reach into its error, its logs and its prints."""

    secrets = {"DB_PASSWORD": SecretRef(secret="db-credentials", key="password")}

    def run(self) -> None:
        leaked = " ".join(
            os.environ.get(name, "")
            for name in ("DB_PASSWORD", "ISB_PASSWORD", "ARTIFACTORY_TOKEN")
        )
        print(f"stdout: {leaked}")
        logging.getLogger("library").warning("library log: %s", leaked)
        with self.telemetry_span("step"):
            raise RuntimeError(f"login failed: {leaked}")


class NoisyAfterResult(Echo):
    """Prints after its result would be written: from an atexit handler and a late thread."""

    def run(self) -> None:
        super().run()
        atexit.register(print, "atexit handler says goodbye")

        def late() -> None:
            time.sleep(0.5)
            print("a thread still talking", flush=True)

        threading.Thread(target=late).start()


class WritesBigResult(Echo):
    def run(self) -> None:
        super().run()
        self.outputs["padding"] = "x" * 4000


class Napping(MarkerTask):
    """Marks `run`, then naps a second: time for a test to break the broker meanwhile."""

    def run(self) -> None:
        super().run()
        time.sleep(1)


class SaysWhy(Echo):
    """Succeeds with a message of its own for the result."""

    def run(self) -> None:
        super().run()
        self.message = "4 frames calibrated, 1 skipped (saturated)"


class ReturnsAValue(TaskBase):
    def run(self) -> dict:  # type: ignore[override]
        return {"frames": 4}


class NanOutputs(TaskBase):
    def run(self) -> None:
        self.outputs = {"stats": {"mean": 1.0, "frames": [1.0, float("nan")]}}


class SetOutputs(TaskBase):
    def run(self) -> None:
        self.outputs = {"bands": {"red", "green"}}


class ReadsWhatIsNotThere(TaskBase):
    def run(self) -> None:
        self.outputs = {"gain": self.parameters["gain"]}


class ReadsAMissingUpstream(TaskBase):
    def run(self) -> None:
        self.outputs = {"frames": self.inputs["ingest_raw"]["frames_path"]}


class ReportsTheRun(TaskBase):
    """Reports the run's dates, type, conf and (resolved) parameters as outputs."""

    def run(self) -> None:
        def shown(value):
            return value.isoformat() if value is not None else None

        self.outputs = {
            "logical_date": shown(self.logical_date),
            "data_interval": [shown(self.data_interval_start), shown(self.data_interval_end)],
            "run_type": self.run_type,
            "conf": dict(self.conf),
            "parameters": dict(self.parameters),
        }


class ReportsItsImports(TaskBase):
    """Reports which heavy libraries its process has imported by the time it runs."""

    def run(self) -> None:
        heavy = ("pydantic", "pydantic_settings", "typer", "rich", "opentelemetry", "pika")
        loaded = {name.partition(".")[0] for name in sys.modules}
        self.outputs = {"imported": sorted(set(heavy) & loaded)}
        self.outputs["sdk"] = "opentelemetry.sdk" in sys.modules


class PrintsTheBrokerPassword(TaskBase):
    def run(self) -> None:
        print("password:", os.environ.get("ISB_PASSWORD"), file=sys.stderr)


class ReportsAssetEvents(TaskBase):
    """Reports the asset events that triggered its run."""

    def run(self) -> None:
        self.outputs = {
            "events": [
                [e.name, e.uri, dict(e.extra), e.source_dag_id, e.source_task_id]
                for e in self.asset_events
            ],
            "omitted": self.context.asset_events_omitted,
        }


class ReportsExtra(TaskBase):
    """Reports extra for the asset its `asset` parameter names."""

    produces = (Asset("s3://sample/products", name="sample_products"),)

    def run(self) -> None:
        self.asset_extra = {self.parameters["asset"]: {"rows": 1}}


class ReadsCleanRows(TaskBase):
    """Reads an output of its upstream `clean`."""

    def run(self) -> None:
        self.outputs = {"rows": self.inputs["clean"]["rows"]}


class FailsHalfway(TaskBase):
    """Sets outputs (`size` characters of them) and metrics, then fails."""

    def run(self) -> None:
        self.metrics = {"frames_done": 3}
        self.outputs = {"partial": "x" * int(self.parameters.get("size", 10))}
        raise RuntimeError("frame 4 is corrupt")


class NeedsAToken(TaskBase):
    """Declares a secret variable and says whether it had one (never its value)."""

    secrets = {"PC_TEST_API_TOKEN": SecretRef(secret="api-credentials", key="token")}

    def run(self) -> None:
        self.outputs = {"had_token": bool(os.environ.get("PC_TEST_API_TOKEN"))}


class UsesAsyncio(TaskBase):
    """Says whether asyncio was imported before it ran, then uses it, and logs from a
    coroutine through loguru."""

    def run(self) -> None:
        before = "asyncio" in sys.modules
        import asyncio

        from loguru import logger

        async def double(value: int) -> int:
            logger.info("inside the event loop")
            return value * 2

        self.outputs = {"asyncio_before_run": before, "doubled": asyncio.run(double(21))}


class ReportsLoaded(TaskBase):
    """Says which optional clients run-task imported before the task ran."""

    def run(self) -> None:
        self.outputs = {name: name in sys.modules for name in ("openlineage", "requests")}
