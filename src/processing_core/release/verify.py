"""Check a bundle: the same checks as `install`, then that Airflow loads every file."""

from __future__ import annotations

import tempfile
from pathlib import Path

from processing_core.extras import require
from processing_core.release.archive import BundleError, BundleLimits, extract_bundle
from processing_core.release.manifest import Manifest
from processing_core.release.signing import TrustedKeys


def verify_bundle(
    path: Path, limits: BundleLimits | None = None, trusted: TrustedKeys | None = None
) -> list[str]:
    """Every problem of the bundle at `path`, each naming the file; [] when it is sound.

    What `install` would refuse is refused here by the same code, before any file of the
    archive is parsed: Airflow only ever runs an archive that passed every static check, and,
    with `trusted` keys, whose signature by one of them matches its manifest.
    """
    with tempfile.TemporaryDirectory(prefix="processing-core-verify-") as folder:
        try:
            manifest = extract_bundle(path, Path(folder), limits or BundleLimits(), trusted)
        except BundleError as error:
            return error.problems
        return _airflow_problems(Path(folder), manifest)


def _airflow_problems(folder: Path, manifest: Manifest) -> list[str]:
    require("airflow", "verify (loading the DAG files with Airflow's DagBag)")
    from processing_core.airflow.dagbag import parse_folder

    parsed = parse_folder(folder)
    problems = [
        f"{name}: Airflow cannot load it: {error}" for name, error in parsed.import_errors.items()
    ]
    for name, workflow in sorted(manifest.files.items()):
        if workflow.dag_id not in parsed.dags and not any(name in p for p in problems):
            problems.append(f"{name}: Airflow found no DAG {workflow.dag_id!r} in it")
        elif workflow.dag_id in parsed.dags:
            task_ids = parsed.dags[workflow.dag_id]
            if task_ids != sorted(workflow.task_ids):
                problems.append(f"{name}: tasks {task_ids} differ from the manifest's")
    return problems
