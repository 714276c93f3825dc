"""Reading and writing the example's frame files (JSON, so the example needs no science stack)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

Frame = list[list[float]]


def run_folder(data_root: str, run_id: str) -> Path:
    # Airflow run ids hold ':' and '+'; keep the folder name portable.
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    folder = Path(data_root) / safe
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_json(path: Path, document: Any) -> None:
    staging = path.with_suffix(path.suffix + ".partial")
    staging.write_text(json.dumps(document), encoding="utf-8")
    os.replace(staging, path)


def read_frames(path: str) -> list[Frame]:
    return json.loads(Path(path).read_text(encoding="utf-8"))["frames"]
