"""The package's public names, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import processing_core


def test_every_public_name_resolves():
    for name in processing_core.__all__:
        assert getattr(processing_core, name) is not None


def test_importing_the_package_imports_nothing_heavy():
    code = (
        "import sys, processing_core; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pydantic', 'pydantic_settings', 'pika', 'pyspark', 'airflow', 'typer', 'loguru'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_the_module_dag_files_import_loads_no_heavy_dependency():
    code = (
        "import sys, processing_core.airflow_callbacks; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pydantic', 'pydantic_settings', 'pika', 'pyspark', 'airflow', 'typer', 'loguru', "
        "'kubernetes', 'opentelemetry'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_build_side_modules_load_no_run_time_dependency():
    code = (
        "import sys\n"
        "import processing_core.build_utils, processing_core.nodes.dag, processing_core.cli\n"
        "import processing_core.render.dag_file, processing_core.render.in_memory\n"
        "import processing_core.release.bundle, processing_core.release.install\n"
        "from processing_core.build_utils import discover_workflows, render_workflows\n"
        "from processing_core.nodes.dag import ExportOptions\n"
        "render_workflows(discover_workflows('workflows'), ExportOptions.create(version='1.0.0'))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m == 'pika' or m.startswith("
        "('pika.', 'pyspark', 'opentelemetry.sdk'))}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert loaded.stdout.strip() == "[]"
