"""A workflow's deadlines as Airflow DeadlineAlerts (DAG argument `deadline`).

Each alert's callback is an AsyncCallback: Airflow runs it in the triggerer, which every
deployment of processing-core runs (its RabbitMQ triggers live there). A SyncCallback runs
on the executor, and only executors that support callbacks can: the LocalExecutor and the
CeleryExecutor, not the KubernetesExecutor (its scheduler would raise NotImplementedError).
"""

from __future__ import annotations

import functools
import re
from importlib import metadata
from typing import Any

from processing_core.definition.deadline import Deadline
from processing_core.errors import ExportError
from processing_core.nodes.common import timedelta_call
from processing_core.nodes.spec import Call, Name

# A dotted path, as Airflow's AsyncCallback takes it (not module:attribute): public API.
RUN_LATE = "processing_core.airflow_callbacks.run_late"
_REFERENCES = {
    "queued": "airflow.sdk:DeadlineReference.DAGRUN_QUEUED_AT",
    "logical_date": "airflow.sdk:DeadlineReference.DAGRUN_LOGICAL_DATE",
}
# airflow.sdk has DeadlineAlert, DeadlineReference and AsyncCallback since the Task SDK
# of Airflow 3.1.
_SDK = "apache-airflow-task-sdk"
_SDK_WITH_DEADLINES = (1, 1)


def deadline_alerts(
    deadlines: tuple[Deadline, ...],
    workflow_name: str,
    version: str,
    team_callback: str | None,
) -> list[Call]:
    """One DeadlineAlert per deadline, its callback publishing `run.late`."""
    alerts = []
    for deadline in deadlines:
        kwargs: dict[str, Any] = {
            "workflow_name": workflow_name,
            "workflow_version": version,
            "deadline_name": deadline.label,
        }
        if team_callback is not None:
            kwargs["team_callback"] = team_callback
        alerts.append(
            Call(
                "airflow.sdk:DeadlineAlert",
                kwargs={
                    "reference": Name(_REFERENCES[deadline.since]),
                    "interval": timedelta_call(deadline.after),
                    "callback": Call(
                        "airflow.sdk:AsyncCallback", args=(RUN_LATE,), kwargs={"kwargs": kwargs}
                    ),
                    "name": deadline.label,
                },
            )
        )
    return alerts


def require_deadline_support(workflow_name: str) -> None:
    """ExportError when the Airflow installed here has no DeadlineAlert (its Task SDK is
    older than Airflow 3.1's). Without Airflow here, the deployment's processing-core[airflow]
    brings an Airflow that has it. Reads the installed version only: importing airflow.sdk
    costs a second and a half."""
    installed = _installed_sdk()
    if installed is not None and _release(installed) < _SDK_WITH_DEADLINES:
        raise ExportError(
            [
                f"Workflow {workflow_name!r} has a deadline, which Airflow runs as a "
                f"DeadlineAlert (Airflow 3.1 and later); the Airflow installed here has "
                f"{_SDK} {installed}, which has none. Upgrade Airflow "
                "(pip install 'processing-core[airflow]') or remove deadline= from the workflow"
            ]
        )


@functools.cache
def _installed_sdk() -> str | None:
    """The installed Task SDK's version, looked up once per export (it searches sys.path)."""
    try:
        return metadata.version(_SDK)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    """(major, minor) of a release version: "1.0.6" and "1.1.0rc1" give (1, 0) and (1, 1)."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found[1]), int(found[2])) if found else (0, 0)
