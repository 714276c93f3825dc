"""A Jupyter notebook per workflow version, for stepping through a run by hand.

One cell per task in dependency order, each running the task in the kernel with the run's
parameters and its upstreams' results: those computed by the cells above, else those a run
recorded (`RUN_DIR`, the folder of a `processing-core run`), so an operator can rerun one
step of a real run, change a parameter, or debug a task with the notebook's tools.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from processing_core.definition.workflow import Workflow


def write_notebooks(
    workflows: Sequence[Workflow], out: Path, version: str | None = None
) -> list[Path]:
    """`<dag_id>.ipynb` in `out` for each workflow (written whole); the paths."""
    import nbformat

    from processing_core.build_utils.discover import workflow_location
    from processing_core.fileops import atomic_write

    written = []
    for workflow in workflows:
        resolved = workflow.resolve_version(version)
        module, attribute = workflow_location(workflow)
        document = workflow_notebook(workflow, resolved, module, attribute)
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{workflow.dag_id(resolved)}.ipynb"
        atomic_write(target, nbformat.writes(document).encode())
        written.append(target)
    return written


def workflow_notebook(workflow: Workflow, version: str, module: str, attribute: str) -> Any:
    """The notebook (an nbformat NotebookNode) of `workflow` at `version`."""
    from processing_core.extras import require

    require("nbformat", "processing-core notebook")
    import nbformat.v4 as v4

    from processing_core.definition.parameters import NO_DEFAULT

    edges = workflow.upstream_task_ids()
    nodes = {node.task_id: node for node in workflow.nodes}
    defaults = {}
    for parameter in workflow.parameters:
        default = parameter.effective_default()
        defaults[parameter.name] = None if default is NO_DEFAULT else default
    cells = [
        v4.new_markdown_cell(
            f"# {workflow.name} {version}\n\n"
            f"{workflow.description or ''}\n\n"
            "Run the cells in order to run the whole workflow here, or set `RUN_DIR` to the "
            "folder of a `processing-core run` and run any task's cell alone: its upstreams' "
            "results are read from that run. Each task runs as `run-task` would run it: its "
            "parameters resolved and checked against the workflow's declarations."
        ),
        v4.new_code_cell(
            "import json\n"
            "from pathlib import Path\n\n"
            "from processing_core.testing import run_task\n"
            f"from {module} import {attribute} as workflow\n\n"
            f"VERSION = {json.dumps(version)}\n"
            "# The run's parameters: declared defaults; required ones without a default are None.\n"
            f"PARAMETERS = {_python(defaults)}\n"
            "# A run folder (runs/<dag_id>/<run_id>): its results stand in for tasks not run.\n"
            "RUN_DIR = None\n"
            "results = {}\n\n\n"
            "def upstream(task_id):\n"
            '    """The outputs of an upstream task: computed above, or recorded in RUN_DIR."""\n'
            "    if task_id in results:\n"
            "        return results[task_id]\n"
            "    if RUN_DIR is not None:\n"
            '        tasks = json.loads((Path(RUN_DIR) / "run.json").read_text())["tasks"]\n'
            "        record = tasks.get(task_id, {})\n"
            '        if record.get("instances") is not None:  # a mapped task: one per element\n'
            "            return [\n"
            '                json.loads((Path(RUN_DIR) / f"{task_id}.{index}" / "result.json")\n'
            '                           .read_text())["outputs"]\n'
            '                for index in range(record["instances"])\n'
            "            ]\n"
            '        result = json.loads((Path(RUN_DIR) / task_id / "result.json").read_text())\n'
            '        return result["outputs"]\n'
            '    raise LookupError(f"run the cell of {task_id} first, or set RUN_DIR")\n'
        ),
    ]
    for task_id in TopologicalSorter(edges).static_order():
        node = nodes[task_id]
        task = node.task_class
        inputs = ", ".join(f"{json.dumps(u)}: upstream({json.dumps(u)})" for u in edges[task_id])
        cells.append(v4.new_markdown_cell(f"## {task_id}\n\n`{task.import_path()}`"))
        call = (
            f"run_task(\n"
            f"    {task.__qualname__},\n"
            f"    workflow=workflow,\n"
            f"    task_id={json.dumps(task_id)},\n"
            f"    version=VERSION,\n"
            f"    parameters=PARAMETERS,\n"
            f"    inputs=inputs,\n"
        )
        imports = f"from {task.__module__} import {task.__qualname__.partition('.')[0]}\n\n"
        if node.foreach is None:
            code = f"inputs = {{{inputs}}}\nresult = {call})\n"
            code += f"results[{json.dumps(task_id)}] = dict(result.outputs)\nresult"
        else:
            # Once per element, as the instances of a mapped node run; the list of their
            # outputs is what its downstream tasks get.
            foreach = json.dumps(json.dumps(node.foreach.data(), sort_keys=True))
            imports += "from processing_core.definition.foreach import Foreach, items_of\n\n"
            code = (
                f"inputs = {{{inputs}}}\n"
                f"foreach = Foreach.from_data(json.loads({foreach}))\n"
                f"items = items_of(inputs[foreach.task_id], foreach, {json.dumps(task_id)})\n"
                f"results[{json.dumps(task_id)}] = []\n"
                "for index, item in enumerate(items):\n"
                + "".join(f"    {line}\n" for line in f"result = {call}".splitlines())
                + "        map_index=index,\n        item=item,\n    )\n"
                f"    results[{json.dumps(task_id)}].append(dict(result.outputs))\n"
                f"results[{json.dumps(task_id)}]"
            )
        cells.append(v4.new_code_cell(imports + code))
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["processing_core"] = {"workflow": workflow.name, "version": version}
    return notebook


def _python(value: dict[str, Any]) -> str:
    """A dict literal, one parameter a line, written by the DAG files' literal-only renderer:
    exact built-in values through repr() (a default of a `str` subclass whose repr is code is
    written as its plain text), never an author's repr."""
    from processing_core.nodes.spec import plain_data
    from processing_core.render.literal import ImportTable, to_source

    if not value:
        return "{}"
    lines = [
        f"    {json.dumps(name)}: "
        f"{to_source(plain_data(item, f'parameter {name!r}: default'), ImportTable(), depth=1)},"
        for name, item in value.items()
    ]
    return "{\n" + "\n".join(lines) + "\n}"
