"""Check a bundle: its manifest, every file's checksum, and that Airflow loads every file."""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path

from processing_core.release.bundle import MANIFEST, read_manifest


def verify_bundle(path: Path) -> list[str]:
    """Every problem of the bundle at `path`, each naming the file; [] when it is sound."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        return [f"{path}: not a readable zip archive ({error})"]
    with archive:
        try:
            manifest = read_manifest(archive)
        except ValueError as error:
            return [f"{path}: {error}"]
        problems = []
        listed = {workflow["file"]: workflow for workflow in manifest.get("workflows", [])}
        present = set(archive.namelist()) - {MANIFEST}
        for name in sorted(set(listed) - present):
            problems.append(f"{name}: listed in the manifest but missing from the archive")
        for name in sorted(present - set(listed)):
            problems.append(f"{name}: in the archive but not in the manifest")
        for name in sorted(set(listed) & present):
            digest = hashlib.sha256(archive.read(name)).hexdigest()
            if digest != listed[name]["sha256"]:
                problems.append(
                    f"{name}: sha256 {digest} does not match the manifest's "
                    f"{listed[name]['sha256']}"
                )
        if problems:
            return problems
        with tempfile.TemporaryDirectory() as folder:
            archive.extractall(folder, members=sorted(listed))
            problems.extend(_airflow_problems(Path(folder), listed))
        return problems


def _airflow_problems(folder: Path, listed: dict) -> list[str]:
    from airflow.dag_processing.dagbag import DagBag

    # safe_mode=False: parse every file, not only those that mention "airflow" and "dag".
    bag = DagBag(dag_folder=str(folder), safe_mode=False)
    problems = [
        f"{Path(file).name}: Airflow cannot load it: {error.strip().splitlines()[-1]}"
        for file, error in sorted(bag.import_errors.items())
    ]
    for name, workflow in sorted(listed.items()):
        if workflow["dag_id"] not in bag.dags and not any(name in p for p in problems):
            problems.append(f"{name}: Airflow found no DAG {workflow['dag_id']!r} in it")
        elif workflow["dag_id"] in bag.dags:
            task_ids = sorted(bag.dags[workflow["dag_id"]].task_ids)
            if task_ids != sorted(workflow["task_ids"]):
                problems.append(f"{name}: tasks {task_ids} differ from the manifest's")
    return problems
