"""A picture of a workflow's graph: Mermaid or DOT text, or an SVG or PNG drawing.

Every format shows each task's id, its class, its resource profile and whether it is a Spark
task. SVG and PNG share one layered layout (tasks in columns by their depth in the graph,
ordered to keep edges short), drawn here without Graphviz; PNG needs the `[graph]` extra
(Pillow).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from processing_core.definition.spark_task import SparkTaskBase
from processing_core.definition.workflow import Workflow

Format = Literal["mermaid", "dot", "svg", "png"]
FORMATS: tuple[str, ...] = ("mermaid", "dot", "svg", "png")

# Layout in pixels (SVG user units).
BOX_WIDTH, BOX_HEIGHT = 190, 52
COLUMN_GAP, ROW_GAP, MARGIN = 70, 24, 20
TASK_FILL, TASK_STROKE = "#e8f0fe", "#3b6fd6"
SPARK_FILL, SPARK_STROKE = "#fdebd3", "#e07b12"


@dataclass(frozen=True)
class GraphTask:
    task_id: str
    class_name: str
    profile: str
    spark: bool
    upstreams: tuple[str, ...]
    # A mapped node: what it runs once per element of (`split.frames`).
    foreach: str | None = None

    @property
    def detail(self) -> str:
        """The second line of the task's box: its class, its profile unless default, Spark,
        and for a mapped node what it runs over."""
        parts = [self.class_name]
        if self.profile != "default":
            parts.append(self.profile)
        if self.spark:
            parts.append("Spark")
        if self.foreach:
            parts.append(f"per {self.foreach}")
        return " · ".join(parts)


def graph_tasks(workflow: Workflow) -> list[GraphTask]:
    """The workflow's tasks in the order they were added, with their upstreams."""
    edges = workflow.upstream_task_ids()
    return [
        GraphTask(
            task_id=node.task_id,
            class_name=node.task_class.__name__,
            profile=str(node.declared.resource_profile),
            spark=issubclass(node.task_class, SparkTaskBase),
            upstreams=edges[node.task_id],
            foreach=node.foreach.reference if node.foreach is not None else None,
        )
        for node in workflow.nodes
    ]


def render_graph(workflow: Workflow, form: Format) -> bytes:
    """The picture of `workflow` in `form` (text formats as UTF-8)."""
    tasks = graph_tasks(workflow)
    if form == "mermaid":
        return mermaid(workflow.name, tasks).encode()
    if form == "dot":
        return dot(workflow.name, tasks).encode()
    if form == "svg":
        return svg(workflow.name, tasks).encode()
    if form == "png":
        return png(workflow.name, tasks)
    raise ValueError(f"format {form!r} is not one of {list(FORMATS)}")


def mermaid(name: str, tasks: Sequence[GraphTask]) -> str:
    """A Mermaid flowchart, for Markdown files and merge requests (Spark tasks as subroutines)."""
    lines = ["flowchart LR", f"    %% {name}"]
    for task in tasks:
        label = f'"<b>{task.task_id}</b><br/>{_mermaid_text(task.detail)}"'
        shape = f"[[{label}]]" if task.spark else f"[{label}]"
        lines.append(f"    {task.task_id}{shape}")
    for task in tasks:
        lines.extend(f"    {upstream} --> {task.task_id}" for upstream in task.upstreams)
    spark = [task.task_id for task in tasks if task.spark]
    lines.append(f"    classDef task fill:{TASK_FILL},stroke:{TASK_STROKE}")
    lines.append(f"    classDef spark fill:{SPARK_FILL},stroke:{SPARK_STROKE}")
    plain = [task.task_id for task in tasks if not task.spark]
    if plain:
        lines.append(f"    class {','.join(plain)} task")
    if spark:
        lines.append(f"    class {','.join(spark)} spark")
    return "\n".join(lines) + "\n"


def dot(name: str, tasks: Sequence[GraphTask]) -> str:
    """Graphviz DOT, for whoever has `dot` at hand."""
    lines = [
        f"digraph {_dot_string(name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for task in tasks:
        fill, stroke = (SPARK_FILL, SPARK_STROKE) if task.spark else (TASK_FILL, TASK_STROKE)
        label = f"<<b>{task.task_id}</b><br/>{html.escape(task.detail)}>"
        lines.append(f'    {task.task_id} [label={label}, fillcolor="{fill}", color="{stroke}"];')
    for task in tasks:
        lines.extend(f"    {upstream} -> {task.task_id};" for upstream in task.upstreams)
    lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Layout:
    """Where each task's box goes (its top-left corner), and the picture's size."""

    positions: Mapping[str, tuple[int, int]]
    width: int
    height: int


def layout(tasks: Sequence[GraphTask]) -> Layout:
    """Columns by depth (the longest path from a task without upstreams); in each column, tasks
    ordered by where their upstreams are (two sweeps), each column centred."""
    depth: dict[str, int] = {}
    for task in _dependency_order(tasks):
        depth[task.task_id] = 1 + max((depth[u] for u in task.upstreams), default=-1)
    columns: list[list[GraphTask]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for task in tasks:
        columns[depth[task.task_id]].append(task)
    row: dict[str, float] = {}
    for _ in range(2):
        for column in columns:
            column.sort(
                key=lambda t: (
                    sum(row.get(u, 0.0) for u in t.upstreams) / len(t.upstreams)
                    if t.upstreams and all(u in row for u in t.upstreams)
                    else row.get(t.task_id, 0.0)
                )
            )
            for index, task in enumerate(column):
                row[task.task_id] = index - (len(column) - 1) / 2
    tallest = max((len(column) for column in columns), default=0)
    height = 2 * MARGIN + tallest * BOX_HEIGHT + max(0, tallest - 1) * ROW_GAP
    width = 2 * MARGIN + len(columns) * BOX_WIDTH + max(0, len(columns) - 1) * COLUMN_GAP
    positions = {}
    for number, column in enumerate(columns):
        x = MARGIN + number * (BOX_WIDTH + COLUMN_GAP)
        top = (height - (len(column) * BOX_HEIGHT + (len(column) - 1) * ROW_GAP)) // 2
        for index, task in enumerate(column):
            positions[task.task_id] = (x, top + index * (BOX_HEIGHT + ROW_GAP))
    return Layout(positions=positions, width=width, height=height)


def svg(name: str, tasks: Sequence[GraphTask]) -> str:
    """A standalone SVG drawing of the layered layout."""
    place = layout(tasks)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{place.width}" '
        f'height="{place.height}" viewBox="0 0 {place.width} {place.height}" '
        'font-family="Helvetica, Arial, sans-serif">',
        f"<title>{html.escape(name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
        f'<rect width="{place.width}" height="{place.height}" fill="white"/>',
    ]
    for task in tasks:
        for upstream in task.upstreams:
            (x1, y1), (x2, y2) = _edge(place, upstream, task.task_id)
            middle = (x1 + x2) / 2
            out.append(
                f'<path d="M {x1} {y1} C {middle} {y1}, {middle} {y2}, {x2} {y2}" fill="none" '
                'stroke="#555" stroke-width="1.5" marker-end="url(#arrow)"/>'
            )
    for task in tasks:
        x, y = place.positions[task.task_id]
        fill, stroke = (SPARK_FILL, SPARK_STROKE) if task.spark else (TASK_FILL, TASK_STROKE)
        out.append(
            f"<g><title>{html.escape(task.task_id)}: {html.escape(task.detail)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
            f'<text x="{x + BOX_WIDTH / 2}" y="{y + 21}" text-anchor="middle" font-size="14" '
            f'font-weight="bold">{html.escape(_fit(task.task_id, 24))}</text>'
            f'<text x="{x + BOX_WIDTH / 2}" y="{y + 39}" text-anchor="middle" font-size="11" '
            f'fill="#333">{html.escape(_fit(task.detail, 30))}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def png(name: str, tasks: Sequence[GraphTask]) -> bytes:
    """The same drawing as the SVG, as a PNG (Pillow, the `[graph]` extra), at twice the size."""
    from processing_core.extras import require

    require("PIL", "graph --format png")
    import io

    from PIL import Image, ImageDraw, ImageFont

    scale = 2
    place = layout(tasks)
    image = Image.new("RGB", (place.width * scale, place.height * scale), "white")
    draw = ImageDraw.Draw(image)
    bold = ImageFont.load_default(size=14 * scale)
    small = ImageFont.load_default(size=11 * scale)
    for task in tasks:
        for upstream in task.upstreams:
            (x1, y1), (x2, y2) = _edge(place, upstream, task.task_id)
            points = _bezier((x1, y1), (x2, y2))
            draw.line([(px * scale, py * scale) for px, py in points], fill="#555555",
                      width=2 * scale // 2 + 1)  # fmt: skip
            tip = (x2 * scale, y2 * scale)
            draw.polygon([tip, (tip[0] - 9 * scale, tip[1] - 4 * scale),
                          (tip[0] - 9 * scale, tip[1] + 4 * scale)], fill="#555555")  # fmt: skip
    for task in tasks:
        x, y = place.positions[task.task_id]
        fill, stroke = (SPARK_FILL, SPARK_STROKE) if task.spark else (TASK_FILL, TASK_STROKE)
        box = (x * scale, y * scale, (x + BOX_WIDTH) * scale, (y + BOX_HEIGHT) * scale)
        draw.rounded_rectangle(box, radius=8 * scale, fill=fill, outline=stroke, width=2)
        centre = (x + BOX_WIDTH / 2) * scale
        draw.text((centre, (y + 16) * scale), _fit(task.task_id, 24), fill="black", font=bold,
                  anchor="mm")  # fmt: skip
        draw.text((centre, (y + 36) * scale), _fit(task.detail, 30), fill="#333333",
                  font=small, anchor="mm")  # fmt: skip
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _edge(place: Layout, upstream: str, task_id: str) -> tuple[tuple[int, int], tuple[int, int]]:
    x1, y1 = place.positions[upstream]
    x2, y2 = place.positions[task_id]
    return (x1 + BOX_WIDTH, y1 + BOX_HEIGHT // 2), (x2, y2 + BOX_HEIGHT // 2)


def _bezier(
    start: tuple[int, int], end: tuple[int, int], steps: int = 24
) -> list[tuple[float, float]]:
    """The SVG's cubic curve (control points halfway across), as a polyline."""
    (x1, y1), (x2, y2) = start, end
    middle = (x1 + x2) / 2
    points = []
    for step in range(steps + 1):
        t = step / steps
        a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
        points.append(
            (a * x1 + b * middle + c * middle + d * x2, a * y1 + b * y1 + c * y2 + d * y2)
        )
    return points


def _dependency_order(tasks: Sequence[GraphTask]) -> list[GraphTask]:
    from graphlib import TopologicalSorter

    by_id = {task.task_id: task for task in tasks}
    order = TopologicalSorter({task.task_id: task.upstreams for task in tasks}).static_order()
    return [by_id[task_id] for task_id in order]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _mermaid_text(text: str) -> str:
    # Mermaid reads its own entities (#quot;) in quoted labels; HTML ones for the rest.
    return html.escape(text, quote=False).replace('"', "#quot;")


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
