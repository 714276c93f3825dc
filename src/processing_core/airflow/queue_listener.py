"""Airflow listener hooks that keep every asset event on its way to a run (in the scheduler).

Loaded by processing-core's Airflow plugin (processing_core.airflow.plugin), found through
the `airflow.plugins` entry point wherever `processing-core[airflow]` is installed:

- In the scheduler a daemon thread repairs the asset queue (processing_core.airflow.
  asset_queue.repair) every ASSET_QUEUE_REPAIR_SECONDS, and at once when a run starts or
  ends: the moments the scheduler may have stranded events, and may now make their run.
- When an asset-triggered run starts, its note names the messages of processing-core's
  RabbitMQ trigger it consumed (`message m-1`), unless it has a note already.

A listener never raises into Airflow: what fails is logged, and the scheduler goes on.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)


class QueueRepairer:
    """The scheduler's repair thread: a pass every `interval` seconds, or when woken."""

    def __init__(self, job: Any, scope: Any, interval: float) -> None:
        self.job = job
        self.scope = scope
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last_error = ""
        self._thread = threading.Thread(
            target=self._loop, name="processing-core-asset-queue", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _is_scheduler(self) -> bool:
        # Airflow calls on_starting from Job.__init__, before the runner names the job's
        # type; so wait for the name a moment.
        for _ in range(300):
            if self._stop.is_set():
                return False
            if getattr(self.job, "job_type", None):
                return bool(self.job.job_type == "SchedulerJob")
            self._stop.wait(0.1)
        return False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        from airflow.utils.session import create_session

        from processing_core.airflow.asset_queue import repair

        if not self._is_scheduler():
            return
        log.info(
            "processing-core: repairing asset queues of %s DAGs every %.0f s",
            self.scope,
            self.interval,
        )
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                repair(create_session, self.scope)
            except Exception as error:  # the database away for a moment: the next pass
                described = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
                if described != self._last_error:
                    log.warning("processing-core: cannot repair asset queues (%s)", described)
                self._last_error = described
            else:
                self._last_error = ""


_repairer: QueueRepairer | None = None


def _settings() -> Any:
    from processing_core.config import AssetQueueSettings, load
    from processing_core.errors import SettingsError

    try:
        return load(AssetQueueSettings)
    except SettingsError as error:
        log.error("processing-core: %s; repairing asset queues with the defaults", error)
        return AssetQueueSettings()


@hookimpl
def on_starting(component: Any) -> None:
    global _repairer
    if not hasattr(component, "job_type") or _repairer is not None:
        return  # not one of Airflow's jobs (a task runner), or started already
    settings = _settings()
    if settings.asset_queue_repair == "off":
        log.info("processing-core: asset queue repair is off (ASSET_QUEUE_REPAIR=off)")
        return
    _repairer = QueueRepairer(
        component, settings.asset_queue_repair, settings.asset_queue_repair_seconds
    )
    _repairer.start()


@hookimpl
def before_stopping(component: Any) -> None:
    global _repairer
    if _repairer is not None and component is _repairer.job:
        _repairer.stop()
        _repairer = None


def _wake() -> None:
    if _repairer is not None:
        _repairer.wake()


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    _note_messages(dag_run)
    _wake()


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _wake()


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _wake()


def _note_messages(dag_run: Any) -> None:
    """Name the run's messages (events of processing-core's RabbitMQ trigger) in its note.
    Set on the scheduler's own objects, committed with its transaction: no query of ours."""
    from processing_core.airflow.asset_queue import message_note

    if getattr(dag_run, "run_type", None) != "asset_triggered" or dag_run.note:
        return
    try:
        note = message_note(dag_run.consumed_asset_events)
        if note:
            dag_run.note = note
    except Exception as error:
        log.warning("processing-core: cannot note the messages of %s (%s)", dag_run.run_id, error)
