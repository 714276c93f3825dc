"""Reading Airflow's metadata database, where this process runs on Airflow's side (Airflow
installed, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN pointing at the database): `prune`'s and the
DAG bundle's runs in progress, `backlog`'s asset events. One way to open it, and one message
when it cannot be read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from processing_core.errors import ProcessingCoreError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ACTIVE_STATES = ("queued", "running")


class MetadataUnreadable(ProcessingCoreError):
    """Airflow's metadata database could not be read; the message says what to set."""


@contextmanager
def metadata_session(fix: str) -> Iterator[Session]:
    """A session of Airflow's metadata database (committed on leaving). Whatever fails
    inside, configuration or query, is MetadataUnreadable naming `fix`."""
    try:
        from airflow.utils.session import create_session

        with create_session() as session:
            yield session
    except Exception as error:  # no database configured, unreachable, not migrated...
        first_line = (str(error).splitlines() or [""])[0][:200]
        raise MetadataUnreadable(
            f"cannot read Airflow's metadata database ({type(error).__name__}: {first_line}); {fix}"
        ) from None


def active_dag_ids(dag_ids: Iterable[str]) -> set[str]:
    """Which of `dag_ids` have a queued or running run."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    fix = "set AIRFLOW_API_URL, or point AIRFLOW__DATABASE__SQL_ALCHEMY_CONN at it"
    with metadata_session(fix) as session:
        found = session.scalars(
            select(DagRun.dag_id)
            .where(DagRun.dag_id.in_(sorted(set(dag_ids))), DagRun.state.in_(ACTIVE_STATES))
            .distinct()
        )
        return set(found)
