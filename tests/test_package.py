"""The package's public names, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

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
