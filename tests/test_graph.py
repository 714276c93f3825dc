"""`processing-core graph`: the example's graph as Mermaid, DOT, SVG and PNG, and the
README's picture kept equal to it."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ElementTree

from conftest import REPO_ROOT, run_cli
from PIL import Image

from processing_core import TaskBase, Workflow
from processing_core.render.graph import BOX_WIDTH, graph_tasks, layout, render_graph
from workflows.l0_to_l1 import l0_to_l1

SVG = "{http://www.w3.org/2000/svg}"
EDGES = {
    ("ingest", "calibrate"), ("calibrate", "quality_check"), ("calibrate", "make_products"),
    ("calibrate", "frame_statistics"), ("quality_check", "publish"),
    ("make_products", "publish"), ("frame_statistics", "publish"),
}  # fmt: skip


def test_mermaid_shows_every_task_edge_class_profile_and_spark_task():
    text = render_graph(l0_to_l1, "mermaid").decode()
    assert text.startswith("flowchart LR\n")
    assert set(re.findall(r"^    (\w+) --> (\w+)$", text, re.M)) == EDGES
    assert 'calibrate["<b>calibrate</b><br/>Calibrate · high_memory"]' in text
    assert 'frame_statistics[["<b>frame_statistics</b><br/>FrameStatistics · Spark"]]' in text
    assert "class frame_statistics spark" in text


def test_the_docs_show_the_examples_graph():
    readme = (REPO_ROOT / "docs" / "graphs.md").read_text()
    block = re.search(
        r"<!-- graph:start -->\n```mermaid\n(.*?)```\n<!-- graph:end -->", readme, re.S
    )
    assert block is not None
    printed = run_cli("graph", "workflows:l0_to_l1_vbi")
    assert printed.returncode == 0, printed.stderr
    assert block.group(1) == printed.stdout


def test_dot_has_every_task_and_edge():
    text = render_graph(l0_to_l1, "dot").decode()
    assert text.startswith('digraph "l0_to_l1_vbi" {\n    rankdir=LR;')
    assert set(re.findall(r"^    (\w+) -> (\w+);$", text, re.M)) == EDGES
    assert 'fillcolor="#fdebd3"' in text.split("frame_statistics [", 1)[1].split("\n")[0]


def test_svg_is_well_formed_and_every_edge_runs_left_to_right():
    root = ElementTree.fromstring(render_graph(l0_to_l1, "svg"))
    boxes = root.findall(f"{SVG}g/{SVG}rect")
    assert len(boxes) == 6
    assert len(root.findall(f"{SVG}path")) == len(EDGES)
    names = [text.text for text in root.iter(f"{SVG}text") if text.get("font-weight") == "bold"]
    assert sorted(names) == sorted({task for edge in EDGES for task in edge})
    place = layout(graph_tasks(l0_to_l1))
    for upstream, task in EDGES:
        assert place.positions[upstream][0] + BOX_WIDTH < place.positions[task][0]
    # Tasks of one column do not overlap.
    spots = list(place.positions.values())
    assert len(set(spots)) == len(spots)


def test_png_is_the_same_drawing_at_twice_the_size(tmp_path):
    completed = run_cli("graph", "workflows:l0_to_l1_vbi", "--format", "png", "--out",
                        str(tmp_path / "l1.png"))  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    image = Image.open(io.BytesIO((tmp_path / "l1.png").read_bytes()))
    place = layout(graph_tasks(l0_to_l1))
    assert image.size == (2 * place.width, 2 * place.height)
    x, y = place.positions["frame_statistics"]
    red, _green, blue = image.convert("RGB").getpixel((2 * x + 20, 2 * y + 20))
    assert red > 240 and blue < 230  # the Spark task's orange fill


def test_several_workflows_go_to_a_folder_and_bad_requests_are_named(tmp_path):
    completed = run_cli("graph", "workflows", "--format", "svg", "--out", str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "l0_to_l1_vbi.svg", "l0_to_quicklook_vbi.svg"
    ]  # fmt: skip
    png = run_cli("graph", "workflows", "--format", "png")
    assert png.returncode == 1 and "--format png writes a file" in png.stderr
    bad = run_cli("graph", "workflows", "--format", "jpeg")
    assert bad.returncode == 1 and "'jpeg' is not one of" in bad.stderr
    missing = run_cli("graph", "workflows:nope")
    assert "has no workflow named 'nope'; its workflows are ['l0_to_l1_vbi'" in missing.stderr


class Hostile(TaskBase):
    resource_profile = '<script>"x"</script>'

    def run(self) -> None:
        pass


def test_author_strings_cannot_break_out_of_a_picture(monkeypatch):
    monkeypatch.setenv("RESOURCE_PROFILES", json.dumps({'<script>"x"</script>': {}}))
    workflow = Workflow("a", "b", "c", version="1", workflow_package="tests")
    workflow.add_node(Hostile)
    mermaid = render_graph(workflow, "mermaid").decode()
    assert "<script>" not in mermaid and "&lt;script&gt;#quot;x#quot;" in mermaid
    ElementTree.fromstring(render_graph(workflow, "svg"))  # still well-formed
    assert "<script>" not in render_graph(workflow, "dot").decode()
