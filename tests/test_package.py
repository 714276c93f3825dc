"""The package's public names, and what importing it costs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import processing_core


def test_every_public_name_resolves():
    for name in processing_core.__all__:
        assert getattr(processing_core, name) is not None


HEAVY = {"pydantic", "pydantic_settings", "pika", "pyspark", "airflow", "typer", "loguru"}


def top_level_modules_after(statement: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running `statement`."""
    code = f"import sys\n{statement}\nprint(sorted({{m.split('.')[0] for m in sys.modules}}))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(ast.literal_eval(loaded.stdout))


def test_importing_the_package_imports_nothing_heavy():
    assert top_level_modules_after("import processing_core") & HEAVY == set()


def test_the_module_dag_files_import_loads_no_heavy_dependency():
    loaded = top_level_modules_after("import processing_core.airflow_callbacks")
    assert loaded & (HEAVY | {"kubernetes", "opentelemetry"}) == set()
    assert "processing_core" in loaded  # the check looks at what it should


def test_build_side_modules_load_no_run_time_dependency():
    code = (
        "import sys\n"
        "import processing_core.build_utils, processing_core.nodes.dag, processing_core.cli\n"
        "import processing_core.render.dag_file, processing_core.airflow.dag\n"
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
