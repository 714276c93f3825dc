"""OpenLineage run events of a task run: START when it starts, then COMPLETE, FAIL or
ABORT, sent by the OpenLineage client (`processing-core[lineage]`) as OpenLineage
configures it (LineageSettings).

The job is the workflow's task (`<workflow>.<version>.<task id>` in OPENLINEAGE_NAMESPACE);
the run is this attempt, a child of OPENLINEAGE_PARENT_ID when given (Airflow's task run);
its inputs are the assets whose events started the run, its outputs the assets the task
produces (URIs rendered as Airflow renders them). A failure's message and traceback are
masked.

Lineage never holds a task up: one thread imports the client and sends the events in
order while the task runs; the task waits for it only at the end, at most
LINEAGE_TIMEOUT_SECONDS in all. An endpoint that is down or slow, a broken configuration or
a missing client cost one warning, and the events that could not be sent are dropped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from loguru import logger

from processing_core.masking import mask

if TYPE_CHECKING:
    from processing_core.config.lineage import LineageSettings
    from processing_core.definition.assets import Asset
    from processing_core.definition.task import RunContext

PRODUCER = "https://github.com/processing-core/processing-core"
JOB_TYPE = {"processingType": "BATCH", "integration": "PROCESSING_CORE", "jobType": "TASK"}
# Airflow's status -> OpenLineage's event type.
FINAL_EVENT = {"success": "COMPLETE", "skipped": "COMPLETE", "terminated": "ABORT"}
_STOP = object()


def lineage_for(context: RunContext) -> TaskLineage:
    """The run's lineage: off (nothing imported) unless OpenLineage is configured.
    SettingsError names a bad OPENLINEAGE_* value."""
    from processing_core import environment

    if not environment.openlineage_given():
        return TaskLineage(None, context)  # nothing configured: no settings read
    from processing_core.config import LineageSettings, load
    from processing_core.masking import register_secrets

    settings = load(LineageSettings)
    register_secrets(settings.secret_values())
    return TaskLineage(settings if settings.configured() else None, context)


class TaskLineage:
    """The OpenLineage events of one task run."""

    def __init__(self, settings: LineageSettings | None, context: RunContext) -> None:
        self.settings = settings
        self.context = context
        self.run_id = str(_uuid7()) if settings is not None else ""
        self._sender: _Sender | None = None
        self._inputs: list[dict[str, Any]] = []
        self._outputs: list[dict[str, Any]] = []

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    def start(self, context: RunContext, produces: Sequence[Asset]) -> None:
        """Send START (in the background), with the run's input and output datasets."""
        if self.settings is None:
            return
        self.context = context
        self._inputs = [_dataset(event.uri) for event in context.asset_events]
        self._outputs = [_dataset(_rendered(asset, context)) for asset in produces]
        self._sender = _Sender(self.settings.lineage_timeout_seconds)
        self._sender.put(self._event("START"))

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Send the final event and wait for the sender, at most what is left of the time
        the task may spend on lineage."""
        if self.settings is None:
            return
        if self._sender is None:  # the task could not be resolved: no START was sent
            self._sender = _Sender(self.settings.lineage_timeout_seconds)
        self._sender.put(self._event(FINAL_EVENT.get(status, "FAIL"), error))
        self._sender.finish()

    def _event(self, event_type: str, error: BaseException | None = None) -> dict[str, Any]:
        assert self.settings is not None
        context = self.context
        run_facets: dict[str, Any] = {}
        if self.settings.openlineage_parent_id:
            namespace, job, run_id = self.settings.openlineage_parent_id.split("/")
            run_facets["parent"] = {
                "run": {"runId": run_id},
                "job": {"namespace": namespace, "name": job},
            }
        if error is not None:
            from processing_core.events.emit import traceback_tail

            run_facets["errorMessage"] = {
                "message": mask(f"{type(error).__name__}: {error}")[:2000],
                "programmingLanguage": "python",
                "stackTrace": mask(traceback_tail(error)),
            }
        return {
            "eventType": event_type,
            "eventTime": datetime.now(UTC).isoformat(),
            "run": {"runId": self.run_id, "facets": run_facets},
            "job": {
                "namespace": self.settings.openlineage_namespace,
                "name": job_name(context),
                "facets": {"jobType": JOB_TYPE},
            },
            "inputs": self._inputs,
            "outputs": self._outputs,
        }


def job_name(context: RunContext) -> str:
    """`<workflow>.<version>.<task id>`: one job per task of a workflow version."""
    return f"{context.workflow_name}.{context.workflow_version}.{context.task_id}"


def _dataset(uri: str) -> dict[str, str]:
    """OpenLineage's naming of a URI: namespace `scheme://authority` (or the scheme alone),
    name the path; any user or password in the URI left out."""
    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if not parts.scheme:
        return {"namespace": "file", "name": uri}
    namespace = f"{parts.scheme}://{host}" if host else parts.scheme
    name = parts.path.lstrip("/") if host else parts.path
    if parts.query:
        name = f"{name}?{parts.query}"
    return {"namespace": namespace, "name": name or "/"}


def _rendered(asset: Asset, context: RunContext) -> str:
    """The URI the task's run produced, rendered from its template as Airflow renders it
    (airflow/assets.py): the run's logical date, else its data interval's end, else now."""
    if not asset.templated:
        return asset.uri
    from processing_core.definition.assets import template_values

    date = context.logical_date or context.data_interval_end or datetime.now(UTC)
    values = template_values(
        workflow=context.workflow_name,
        version=context.workflow_version,
        dag_id=context.dag_id or "",
        task_id=context.task_id,
        run_id=context.run_id,
        date=date,
        parameters=context.parameters,
    )
    try:
        return asset.render(values)
    except (KeyError, ValueError):  # a parameter the run does not have: the template
        return asset.uri


class _Sender:
    """One thread that sends the events in order; the task waits for it only in finish()."""

    def __init__(self, budget: float) -> None:
        self._budget = budget
        self._events: queue.Queue[object] = queue.Queue()
        self._failed = False
        self._thread = threading.Thread(target=self._send_all, name="openlineage", daemon=True)
        self._thread.start()

    def put(self, event: dict[str, Any]) -> None:
        self._events.put(event)

    def finish(self) -> None:
        self._events.put(_STOP)
        self._thread.join(self._budget)
        if self._thread.is_alive() and not self._failed:
            self._failed = True
            logger.warning(
                "OpenLineage: the events of this task were not all sent within {} s "
                "(LINEAGE_TIMEOUT_SECONDS); the rest are dropped",
                self._budget,
            )

    def _send_all(self) -> None:
        client = None
        while (item := self._events.get()) is not _STOP:
            event = cast("dict[str, Any]", item)
            if self._failed:
                continue
            try:  # whatever goes wrong (client, configuration, endpoint), the task goes on
                client = client or _client()
                client.emit(_run_event(event))
            except Exception as error:
                self._failed = True
                logger.warning(
                    "OpenLineage: could not send the {} event ({}); no more lineage from this task",
                    event["eventType"],
                    mask(str(error))[:500],
                )
        if client is not None:
            with contextlib.suppress(Exception):  # nothing is left to send
                client.close(0)


def _client() -> Any:
    try:
        from openlineage.client import OpenLineageClient
    except ImportError:
        raise RuntimeError(
            "OpenLineage is configured but its client is not installed: install "
            "processing-core[lineage]"
        ) from None
    import logging
    import os

    if not os.environ.get("OPENLINEAGE_CLIENT_LOGGING"):
        # The client narrates its transport at INFO in every task; its warnings matter.
        logging.getLogger("openlineage").setLevel(logging.WARNING)
    return OpenLineageClient()


def _run_event(event: Mapping[str, Any]) -> Any:
    """The client's RunEvent for one of ours (the client validates and serializes it)."""
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import error_message_run, job_type_job, parent_run

    run_facets: dict[str, Any] = {}
    facets = event["run"]["facets"]
    if "parent" in facets:
        parent = facets["parent"]
        run_facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=parent["run"]["runId"]),
            job=parent_run.Job(namespace=parent["job"]["namespace"], name=parent["job"]["name"]),
            producer=PRODUCER,
        )
    if "errorMessage" in facets:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            producer=PRODUCER, **facets["errorMessage"]
        )
    job = event["job"]
    return RunEvent(
        eventType=RunState[event["eventType"]],
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=run_facets),
        job=Job(
            namespace=job["namespace"],
            name=job["name"],
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType=JOB_TYPE["processingType"],
                    integration=JOB_TYPE["integration"],
                    jobType=JOB_TYPE["jobType"],
                    producer=PRODUCER,
                )
            },
        ),
        inputs=[InputDataset(**dataset) for dataset in event["inputs"]],
        outputs=[OutputDataset(**dataset) for dataset in event["outputs"]],
        producer=PRODUCER,
    )


def _uuid7() -> Any:
    """A UUIDv7 (OpenLineage's run id): time-ordered, random below."""
    import os
    import uuid

    milliseconds = time.time_ns() // 1_000_000
    value = (milliseconds & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 76) - 1)
    value &= ~(0x3 << 62)
    value |= 0x2 << 62
    return uuid.UUID(int=value)
