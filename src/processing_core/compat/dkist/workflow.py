"""dkist's Workflow over processing-core's: its constructor, names, nodes and `load()`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from processing_core.compat.dkist.resource_queue import ResourceQueue
from processing_core.definition import naming
from processing_core.definition.node import TaskNode
from processing_core.definition.parameters import Parameter
from processing_core.definition.task import TaskBase as NativeTaskBase
from processing_core.definition.workflow import Workflow as NativeWorkflow
from processing_core.errors import WorkflowDefinitionError

MAXIMUM_WORKFLOW_NAME_LENGTH = 100
RECIPE_RUN_ID = Parameter(
    "recipe_run_id",
    type="integer",
    required=True,
    minimum=0,
    description="The recipe run this workflow processes.",
)


def workflow_name_from_details(
    input_data: str, output_data: str, category: str, detail: str | None = None
) -> str:
    """`<input>_to_<output>_<category>[_<detail>]`, as dkist names a workflow."""
    name = f"{input_data}_to_{output_data}_{category}" + (f"_{detail}" if detail else "")
    if len(name) > MAXIMUM_WORKFLOW_NAME_LENGTH:
        raise ValueError(
            f"Workflow name {name} is {len(name)} characters long. "
            f"Limit is {MAXIMUM_WORKFLOW_NAME_LENGTH} characters."
        )
    return name


def dag_name(workflow_name: str, workflow_version: str) -> str:
    """`<workflow name>_<version>`, as dkist names a DAG (and a notebook's file); ValueError
    when it holds a character Airflow refuses in a dag_id."""
    result = f"{workflow_name}_{workflow_version}"
    if not naming.DAG_ID_RE.fullmatch(result):
        raise ValueError(
            f"Dag name {result} contains invalid characters. Only ASCII letters, digits and "
            "-._ are permitted."
        )
    return result


@dataclass(frozen=True)
class DkistNode(TaskNode):
    """A node as dkist's pipelines read it: `.task`, `.upstreams`, `.resource_queue`,
    `.pip_extras`, besides processing-core's fields."""

    resource_queue: ResourceQueue = ResourceQueue.DEFAULT
    pip_extras: tuple[str, ...] = ()

    @property
    def task(self) -> type[NativeTaskBase]:
        return self.task_class

    @property
    def upstreams(self) -> tuple[Any, ...]:
        return self.upstream_refs


class Workflow(NativeWorkflow):
    """dkist's Workflow: keyword arguments, dkist's names (the dag_id is
    `<workflow name>_<version>`, task ids are class names), the version from
    `workflow_version`, else BUILD_VERSION, else `"dev"`, and `recipe_run_id` declared as the
    integer parameter every run takes."""

    def __init__(
        self,
        *,
        input_data: str,
        output_data: str,
        category: str,
        workflow_package: str,
        detail: str | None = None,
        tags: list[str] | str | None = None,
        workflow_version: str | None = None,
    ) -> None:
        from processing_core.config import ExportSettings, load

        workflow_name_from_details(input_data, output_data, category, detail)  # its length
        version = workflow_version or load(ExportSettings).build_version or "dev"
        super().__init__(
            input_data,
            output_data,
            category,
            detail,
            version=version,
            workflow_package=workflow_package,
            tags=[tags] if isinstance(tags, str) else (tags or ()),
            parameters=[RECIPE_RUN_ID],
        )

    @property
    def workflow_name(self) -> str:
        return self.name

    @property
    def workflow_version(self) -> str:
        return str(self.declared_version)

    @property
    def dag_name(self) -> str:
        return dag_name(self.workflow_name, self.workflow_version)

    def add_node(  # type: ignore[override]  # dkist's signature
        self,
        task: type[NativeTaskBase],
        upstreams: Any = None,
        resource_queue: ResourceQueue | None = None,
        pip_extras: Iterable[str] | None = None,
    ) -> DkistNode:
        """Add a task under its class name; `resource_queue` picks the node's resource profile
        (its value), `pip_extras` are recorded (an image-per-version pipeline installs them in
        its image: there is no per-task environment)."""
        queue = ResourceQueue(resource_queue) if resource_queue is not None else None
        extras = tuple(pip_extras or ())
        if isinstance(pip_extras, str) or not all(
            isinstance(extra, str) and naming.EXTRA_RE.fullmatch(extra) for extra in extras
        ):
            raise WorkflowDefinitionError(
                [
                    f"Workflow {self.name!r}: add_node({getattr(task, '__name__', task)}): "
                    f"pip_extras {pip_extras!r} must be a list of extras' names, e.g. ['inventory']"
                ]
            )
        node = super().add_node(
            task,
            upstreams=upstreams,
            task_id=getattr(task, "__name__", None),
            resource_profile=queue.value if queue is not None else None,
        )
        compat = DkistNode(
            task_id=node.task_id,
            task_class=node.task_class,
            upstream_refs=node.upstream_refs,
            overrides=node.overrides,
            resource_queue=queue or ResourceQueue.DEFAULT,
            pip_extras=extras,
        )
        self._nodes[node.task_id] = compat
        return compat

    def image_extras(self) -> dict[str, list[str]]:
        return {
            node.task_id: list(node.pip_extras)
            for node in self.nodes
            if isinstance(node, DkistNode) and node.pip_extras
        }

    def export_notes(self) -> list[str]:
        """pip extras are never dropped silently: the export says where they go."""
        return [
            f"task {node.task_id} asks for pip extras {list(node.pip_extras)}; processing-core "
            "runs every task in the pipeline's image: install them there (e.g. pip install "
            f"'<pipeline>[{','.join(node.pip_extras)}]' in its Dockerfile)"
            for node in self.nodes
            if isinstance(node, DkistNode) and node.pip_extras
        ]

    def load(self) -> Any:
        """The Airflow DAG, in memory (the `kubernetes` target)."""
        from processing_core.airflow.dag import to_dag

        return to_dag(self, version=self.workflow_version)
