"""Which DAGs have runs that are queued or running: what `prune` must not remove.

Airflow is asked through its REST API when AIRFLOW_API_URL is set (with AIRFLOW_API_TOKEN),
else through its metadata database when this process runs on the Airflow side (Airflow
installed and configured). When neither can answer, nothing may be pruned without --force.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from processing_core.errors import ProcessingCoreError

if TYPE_CHECKING:
    from processing_core.config import ReleaseSettings

# The states of a run in progress (processing_core.airflow.metadata's too).
ACTIVE_STATES = ("queued", "running")


class ActiveRunsUnknown(ProcessingCoreError):
    """Airflow could not be asked which runs are in progress."""


def active_dag_ids(dag_ids: Iterable[str], settings: ReleaseSettings) -> set[str]:
    """The dag_ids among `dag_ids` with a queued or running run."""
    wanted = sorted(set(dag_ids))
    if not wanted:
        return set()
    if settings.airflow_api_url:
        return _from_api(wanted, settings)
    return _from_metadata_database(wanted)


def _from_api(dag_ids: list[str], settings: ReleaseSettings) -> set[str]:
    import requests

    base = str(settings.airflow_api_url).rstrip("/")
    headers = {}
    if settings.airflow_api_token is not None:
        headers["Authorization"] = f"Bearer {settings.airflow_api_token.get_secret_value()}"
    active = set()
    with requests.Session() as session:
        for dag_id in dag_ids:
            url = f"{base}/api/v2/dags/{dag_id}/dagRuns"
            try:
                response = session.get(
                    url,
                    params=[*(("state", state) for state in ACTIVE_STATES), ("limit", "1")],
                    headers=headers,
                    timeout=30,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                raise ActiveRunsUnknown(
                    f"cannot ask Airflow at {base} which runs are in progress ({error})"
                ) from None
            if response.status_code == 404:
                continue  # Airflow does not know the DAG (yet): no run of it
            if response.status_code != 200:
                hint = "; check AIRFLOW_API_TOKEN" if response.status_code in (401, 403) else ""
                raise ActiveRunsUnknown(
                    f"Airflow at {base} answered {response.status_code} for the runs of "
                    f"{dag_id}{hint}"
                )
            try:
                total = int(response.json().get("total_entries", 0))
            except (ValueError, AttributeError, TypeError):
                raise ActiveRunsUnknown(
                    f"Airflow at {base} answered something that is not a list of runs"
                ) from None
            if total:
                active.add(dag_id)
    return active


def _from_metadata_database(dag_ids: list[str]) -> set[str]:
    from importlib.util import find_spec

    if find_spec("airflow") is None:
        raise ActiveRunsUnknown(
            "cannot ask Airflow which runs are in progress: set AIRFLOW_API_URL (and "
            "AIRFLOW_API_TOKEN), or run this where Airflow is installed"
        )
    from processing_core.airflow.metadata import MetadataUnreadable, active_dag_ids

    try:
        return active_dag_ids(dag_ids)
    except MetadataUnreadable as error:
        raise ActiveRunsUnknown(str(error)) from None
