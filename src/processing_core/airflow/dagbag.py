"""What Airflow's own parser (DagBag) makes of a folder of DAG files: the DAGs with their
task ids, and each file's import error in one line. For `verify` and the testing helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ParsedFolder:
    dags: dict[str, list[str]]  # dag_id -> its task ids, sorted
    import_errors: dict[str, str]  # file name -> the error's last line


def parse_folder(folder: Path) -> ParsedFolder:
    """Parse every file of `folder` as the dag-processor would."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1: where it was before 3.2 moved it
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    # safe_mode=False: parse every file, not only those that mention "airflow" and "dag".
    bag = DagBag(dag_folder=str(folder), safe_mode=False)
    return ParsedFolder(
        dags={dag_id: sorted(dag.task_ids) for dag_id, dag in bag.dags.items()},
        import_errors={
            Path(file).name: (error.strip().splitlines() or [""])[-1]
            for file, error in sorted(bag.import_errors.items())
        },
    )
