"""The house's rules, read from the code's own imports (AST; imports inside functions and
under `if TYPE_CHECKING:` included, since they are dependencies a reader sees):

- no import circle among processing_core's modules;
- only `processing_core/airflow/` imports Airflow;
- the definition side imports nothing of the run side, the node adapters, the renderers or
  Airflow's side; the run side nothing of the build side;
- generated DAG files import only Airflow, the providers, the Kubernetes models, the
  standard library and processing-core's stable paths (docs/architecture.md).

Each rule is also run on a small tree made to break it, so a rule that finds nothing cannot
pass by finding nothing."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

SOURCE = REPO_ROOT / "src"
# The import paths generated DAG files name: public and stable (docs/architecture.md).
STABLE_PATHS = {
    "processing_core.airflow_callbacks",
    "processing_core.airflow_operators",
    "processing_core.airflow_spark_submit",
}
# Besides them, what a DAG file may import: Airflow, its providers, Kubernetes, stdlib.
DAG_FILE_ROOTS = {"airflow", "kubernetes", "datetime"}
LAYERS = {
    # package prefix -> prefixes it must never import
    "processing_core.definition": (
        "processing_core.runtime", "processing_core.nodes", "processing_core.render",
        "processing_core.airflow", "processing_core.release", "processing_core.local",
        "processing_core.events", "processing_core.cli", "processing_core.build_utils",
    ),
    "processing_core.runtime": (
        "processing_core.nodes", "processing_core.render", "processing_core.airflow",
        "processing_core.release", "processing_core.cli", "processing_core.build_utils",
    ),
}  # fmt: skip


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(root: Path) -> dict[str, set[str]]:
    """Module -> every module name it imports (absolute; `from a import b` gives `a.b` when
    that is a module of the tree, else `a`)."""
    known = modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in known else base)
    return graph


def internal_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Only the edges between the tree's own modules, each to the longest known prefix."""
    known = set(graph)
    edges: dict[str, set[str]] = {}
    for source, targets in graph.items():
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != source:
                edges.setdefault(source, set()).add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def airflow_importers(graph: dict[str, set[str]]) -> set[str]:
    return {
        module
        for module, targets in graph.items()
        if any(target == "airflow" or target.startswith("airflow.") for target in targets)
    }


def layer_breaches(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{source} imports {target}"
        for source, targets in sorted(edges.items())
        for layer, forbidden in LAYERS.items()
        if source == layer or source.startswith(layer + ".")
        for target in sorted(targets)
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    ]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return imports(SOURCE)


def test_no_import_circle(graph):
    assert circles(internal_edges(graph)) == []


def test_only_airflows_side_imports_airflow(graph):
    outside = {m for m in airflow_importers(graph) if not m.startswith("processing_core.airflow.")}
    assert outside == set()
    # ... and the stable paths DAG files name are aliases of it, importing only it.
    for alias in (
        "airflow_callbacks",
        "airflow_assets",
        "airflow_operators",
        "airflow_spark_submit",
    ):
        targets = graph[f"processing_core.{alias}"]
        assert targets == {f"processing_core.airflow.{alias.removeprefix('airflow_')}"}, alias


def test_the_definition_side_knows_nothing_of_the_run_side_and_the_run_side_nothing_of_export(
    graph,
):
    assert layer_breaches(internal_edges(graph)) == []


def test_the_rules_find_what_breaks_them(tmp_path):
    """A tree made to break each rule: a circle through a lazy import and a TYPE_CHECKING
    one, Airflow imported outside its room, the definition side importing the run side."""
    package = tmp_path / "processing_core"
    for folder in ("", "definition", "runtime"):
        (package / folder).mkdir(parents=True, exist_ok=True)
        (package / folder / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from processing_core import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n"
    )
    (package / "definition" / "task.py").write_text(
        "from processing_core.runtime.telemetry import Telemetry\n"
    )
    (package / "runtime" / "telemetry.py").write_text("import airflow.sdk\nTelemetry = 1\n")
    made = imports(tmp_path)
    assert circles(internal_edges(made)) == [["processing_core.a", "processing_core.b"]]
    assert airflow_importers(made) == {"processing_core.runtime.telemetry"}
    assert layer_breaches(internal_edges(made)) == [
        "processing_core.definition.task imports processing_core.runtime.telemetry"
    ]


def test_the_config_package_exports_what_it_lists():
    import processing_core.config as config

    assert sorted(config.__all__) == sorted(config._WHERE)
    for name in config.__all__:
        assert getattr(config, name) is not None


def dag_file_imports(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("target", ["kubernetes", "local"])
def test_generated_dag_files_import_only_airflow_and_the_stable_paths(tmp_path, target):
    from conftest import run_cli

    for package in ("workflows", "asset_pipeline", "message_pipeline"):
        made = run_cli("export", package, "--out", str(tmp_path / package), "--target", target,
                       "--version", "1.0.0")  # fmt: skip
        assert made.returncode == 0, made.stderr
    named = dag_file_imports(tmp_path)
    ours = {name for name in named if name.startswith("processing_core")}
    assert ours <= STABLE_PATHS and ours, named
    others = {name.partition(".")[0] for name in named} - {"processing_core"}
    assert others <= DAG_FILE_ROOTS, others


def test_earlier_releases_named_only_stable_paths():
    earlier = dag_file_imports(REPO_ROOT / "tests" / "data")
    assert {name for name in earlier if name.startswith("processing_core")} <= STABLE_PATHS
