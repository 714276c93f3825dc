"""Reading and writing the example's frame files (JSON, so the example needs no science stack)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from processing_core import Volume

Frame = list[list[float]]

# Pods share no disk: every task mounts the pipeline's claim at /data, where its data lives.
DATA = Volume.from_claim("data", "vbi-processing-data", "/data")


def run_folder_name(run_id: str) -> str:
    """The name of a run's folder: Airflow run ids hold ':' and '+'; keep it portable."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def run_folder(data_root: str, run_id: str) -> Path:
    """This run's folder under `data_root`; an empty `data_root` is `processing` on the data
    claim in a pod, and a folder of the worker's user where nothing is mounted."""
    folder = (Path(data_root) if data_root else DATA.folder("processing")) / run_folder_name(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_json(path: Path, document: Any) -> None:
    staging = path.with_suffix(path.suffix + ".partial")
    staging.write_text(json.dumps(document), encoding="utf-8")
    os.replace(staging, path)


def read_frames(path: str) -> list[Frame]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["frames"]
