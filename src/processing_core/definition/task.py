"""TaskBase: the one class a pipeline author subclasses, and the run context it receives."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

from processing_core.definition.assets import Asset, AssetEvent
from processing_core.definition.parameters import Parameter, resolve_parameters
from processing_core.definition.resources import Resources, SecretRef
from processing_core.definition.volumes import Volume


class SpanSource(Protocol):
    """What a task needs of its run's telemetry (the entrypoint's `runtime.telemetry`): a span
    per step. Declared here so the definition side depends on no run-time module."""

    def span(self, name: str) -> AbstractContextManager[object]: ...


@dataclass(frozen=True)
class RunContext:
    """Who is running and with what: given to a task by the entrypoint (or by a test).

    The dates are those of the Airflow run (None for a manual run without a logical date,
    as in Airflow 3). With `declared_parameters` (what `Workflow.run_context()` passes), the
    parameters are resolved as Airflow resolves them: defaults applied, every value checked
    against its declaration (ParameterError otherwise).
    """

    workflow_name: str
    workflow_version: str
    task_id: str
    run_id: str = "manual"
    try_number: int = 1
    dag_id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # Upstream task id -> the outputs that task reported (a mapped upstream: the list of its
    # instances' outputs, in map order).
    inputs: Mapping[str, Any] = field(default_factory=dict)
    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    # Airflow's run type: manual, scheduled, backfill, asset_triggered, ...
    run_type: str = "manual"
    # The DAG run's conf, as triggered (the parameters already hold its declared keys).
    conf: Mapping[str, Any] = field(default_factory=dict)
    declared_parameters: tuple[Parameter, ...] | None = None
    # The asset events that triggered the run (an asset-scheduled workflow), newest last;
    # how many more there were than the run's arguments could carry.
    asset_events: tuple[AssetEvent, ...] = ()
    asset_events_omitted: int = 0
    # Of an instance of a mapped node (add_node(foreach=...)): its position in the list and
    # its element; None for a task that is not mapped.
    map_index: int | None = None
    item: Any = None

    def __post_init__(self) -> None:
        if self.declared_parameters is not None:
            resolved = resolve_parameters(self.declared_parameters, self.parameters)
            object.__setattr__(self, "parameters", resolved)


class NameNotFoundError(KeyError):
    """A task read a parameter or an upstream the run does not have."""

    def __str__(self) -> str:  # KeyError would show the message's repr()
        return str(self.args[0])


class _Named(dict[str, Any]):
    """A dict whose missing keys raise NameNotFoundError naming the keys it has.

    A dict (not a Mapping of our own), so a task can still pass it to json.dumps.
    """

    def __init__(
        self, data: Mapping[str, Any], explain: Callable[[str], str], names: list[str]
    ) -> None:
        super().__init__(data)
        self._explain = explain
        self._names = names

    def __missing__(self, key: str) -> Any:
        raise NameNotFoundError(f"{self._explain(key)} {self._names}")


def _outputs(task_id: str, value: Any) -> Any:
    """An upstream's outputs, whose missing keys name the outputs it gave (an upstream that
    recorded no result, e.g. marked success by hand, gave none)."""
    if isinstance(value, list):
        return [_outputs(f"{task_id}[{index}]", item) for index, item in enumerate(value)]
    if not isinstance(value, Mapping):
        return value
    return _Named(
        value,
        lambda key: (
            f"upstream task {task_id!r} gave no output {key!r}"
            + ("" if value else " (it recorded no outputs: did it run?)")
            + "; its outputs are"
        ),
        sorted(value),
    )


class TaskBase(ABC):
    """A unit of work in a workflow. Subclass it and implement `run()`.

    The class attributes below declare how Airflow and Kubernetes run the task; the class
    docstring becomes the task's documentation in the Airflow UI.

    Inside `run()`: read `self.parameters` and `self.inputs`, fill `self.outputs` and
    `self.metrics` (JSON values) and, if you like, `self.message` (a sentence for people)
    and `self.asset_extra` (per asset the task `produces`). The entrypoint writes them into
    the task's result, where downstream tasks find the outputs in their `self.inputs`.
    """

    retries: ClassVar[int] = 0
    retry_delay: ClassVar[timedelta] = timedelta(minutes=5)
    # Multiplier of the delay after each retry (Airflow 3.3 semantics): 0 keeps it constant,
    # 2.0 doubles it. True means 2.0.
    retry_exponential_backoff: ClassVar[float | bool] = 0.0
    max_retry_delay: ClassVar[timedelta | None] = None
    execution_timeout: ClassVar[timedelta | None] = None
    # How long the pod (or Spark driver) may take to be scheduled and start, image pull
    # included, before the try fails; None: the K8S_STARTUP_TIMEOUT_SECONDS setting.
    startup_timeout: ClassVar[timedelta | None] = None
    resources: ClassVar[Resources] = Resources()
    resource_profile: ClassVar[str] = "default"
    # Environment variable name -> Kubernetes Secret key. References only, never values.
    secrets: ClassVar[Mapping[str, SecretRef]] = {}
    # Storage this task's container mounts, besides the Workflow's and K8S_VOLUMES.
    volumes: ClassVar[Sequence[Volume]] = ()
    # Data this task updates: Airflow records an asset event for each when the task succeeds.
    produces: ClassVar[Sequence[Asset]] = ()
    # The names of the outputs run() fills, for a downstream node to map over one of them
    # (add_node(..., foreach="<this task's id>.<output>")).
    declared_outputs: ClassVar[Sequence[str]] = ()

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.outputs: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        # The result's message on success (a failure's message is its error).
        self.message = ""
        # Asset name -> extra information for the asset event of that asset this run
        # produces (e.g. the product's path and size), shown in Airflow's asset view.
        self.asset_extra: dict[str, dict[str, Any]] = {}
        self._rolled_back = False
        self._rolling_back = False
        self._rollback_error: Exception | None = None
        # Set by the entrypoint; without it telemetry_span() is a no-op (tests, notebooks).
        self.telemetry: SpanSource | None = None

    @classmethod
    def for_run(cls, context: RunContext, telemetry: SpanSource | None = None) -> Self:
        """The task for a run, as `run-task` (and the testing helpers) construct it: here
        `cls(context)`. A base class whose subclasses have an `__init__` of their own
        signature overrides this (processing_core.compat.dkist does)."""
        task = cls(context)
        task.telemetry = telemetry
        return task

    # -- the run's identity and inputs ------------------------------------------------------
    @property
    def parameters(self) -> Mapping[str, Any]:
        """The run's parameters; reading one the run does not have names those it has."""
        if self.context.declared_parameters is None:
            return _Named(
                self.context.parameters,
                lambda key: f"parameter {key!r} is not one of this run's parameters:",
                sorted(self.context.parameters),
            )
        return _Named(
            self.context.parameters,
            lambda key: (
                f"parameter {key!r} is not declared by workflow "
                f"{self.workflow_name!r}; its parameters are"
            ),
            [parameter.name for parameter in self.context.declared_parameters],
        )

    @property
    def inputs(self) -> Mapping[str, Any]:
        """Upstream task id -> its outputs (a mapped upstream: the list of its instances'
        outputs, in map order); an unknown upstream names the upstreams, an output an
        upstream did not give names the outputs it gave."""
        return _Named(
            {task: _outputs(task, value) for task, value in self.context.inputs.items()},
            lambda key: (
                f"{key!r} is not an upstream task of {self.task_id!r}; its upstream tasks are"
            ),
            sorted(self.context.inputs),
        )

    @property
    def item(self) -> Any:
        """The element of the list this instance of a mapped node runs on (None when the node
        is not mapped)."""
        return self.context.item

    @property
    def map_index(self) -> int | None:
        """This instance's position in the list its node is mapped over (None when the node
        is not mapped), as Airflow numbers mapped task instances."""
        return self.context.map_index

    @property
    def workflow_name(self) -> str:
        return self.context.workflow_name

    @property
    def workflow_version(self) -> str:
        return self.context.workflow_version

    @property
    def task_id(self) -> str:
        return self.context.task_id

    @property
    def run_id(self) -> str:
        return self.context.run_id

    @property
    def try_number(self) -> int:
        return self.context.try_number

    @property
    def logical_date(self) -> datetime | None:
        """The run's logical date; None for a manual run triggered without one."""
        return self.context.logical_date

    @property
    def data_interval_start(self) -> datetime | None:
        return self.context.data_interval_start

    @property
    def data_interval_end(self) -> datetime | None:
        return self.context.data_interval_end

    @property
    def run_type(self) -> str:
        """`manual`, `scheduled`, `backfill`, `asset_triggered`, ... as Airflow says."""
        return self.context.run_type

    @property
    def conf(self) -> Mapping[str, Any]:
        """The DAG run's conf as triggered; read declared values through `parameters`."""
        return self.context.conf

    @property
    def asset_events(self) -> tuple[AssetEvent, ...]:
        """The asset events that triggered this run (empty unless it is asset-triggered)."""
        return self.context.asset_events

    # -- lifecycle ------------------------------------------------------------------------------
    def complete(self) -> bool:
        """Whether this run's work is already done (e.g. its product exists): then the task is
        skipped, neither pre_run, run nor post_run runs, and its result says `skipped`.

        Fill `self.outputs` (and `self.message`) with what downstream tasks need, as `run()`
        would: they still run, with these outputs. Optional (Luigi's idea); by default the
        work is never done.
        """
        return False

    def work_is_complete(self) -> bool:
        """`complete()`, held to its contract: TypeError unless it says True or False."""
        done = self.complete()
        if not isinstance(done, bool):
            raise TypeError(
                f"{type(self).__name__}.complete() returned {type(done).__name__}; return True "
                "when the work is already done, else False"
            )
        return done

    def pre_run(self) -> None:  # noqa: B027 - an optional hook, empty by design
        """Prepare (e.g. check that inputs exist). Runs before `run()`."""

    @abstractmethod
    def run(self) -> None:
        """Do the work; fill `self.outputs` and `self.metrics`."""

    def post_run(self) -> None:  # noqa: B027 - an optional hook, empty by design
        """Finish (e.g. record provenance). Runs after a successful `run()`."""

    def rollback(self) -> None:  # noqa: B027 - an optional hook, empty by design
        """Undo partial work after a failure or termination. Runs at most once."""

    def close(self) -> None:  # noqa: B027 - an optional hook, empty by design
        """Release what the task holds (sessions, connections); runs on leaving `with`."""

    def __call__(self) -> None:
        """Run `pre_run`, `run`, `post_run`; on any failure run `rollback()` and re-raise.

        The original error is what propagates; if `rollback()` fails too, its error is kept in
        `rollback_error` and noted on the original.
        """
        try:
            with self.telemetry_span("pre_run"):
                self.pre_run()
            with self.telemetry_span("run"):
                returned = self.run()
            if returned is not None:
                raise TypeError(
                    f"{type(self).__name__}.run() returned a {type(returned).__name__}; put "
                    "results in self.outputs (and self.metrics), and return nothing"
                )
            with self.telemetry_span("post_run"):
                self.post_run()
        except BaseException as error:
            self._rollback_once(error)
            raise

    # -- what happened ----------------------------------------------------------------------
    @property
    def rolled_back(self) -> bool:
        """True once `rollback()` ran (whether or not it succeeded)."""
        return self._rolled_back

    @property
    def rolling_back(self) -> bool:
        """True while `rollback()` runs (the entrypoint holds SIGTERM off meanwhile)."""
        return self._rolling_back

    @property
    def rollback_error(self) -> Exception | None:
        """What `rollback()` raised, if it did."""
        return self._rollback_error

    def telemetry_span(self, name: str) -> AbstractContextManager[object]:
        """A span of its own for a step of the task: `with self.telemetry_span("fit model"):`.

        A child of the current span (the task's, or the step's around it); an exception
        raised inside is recorded on it and sets its error status.
        """
        if self.telemetry is None:
            return nullcontext()
        return self.telemetry.span(name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                self._rollback_once(exc)
        finally:
            try:
                self.close()
            except Exception as failure:
                if exc is None:
                    raise  # the task's own failure: reported as such, nothing rolled back
                # The error that ended the task stays the one reported.
                exc.add_note(f"close() also failed: {type(failure).__name__}: {failure}")

    def _rollback_once(self, cause: BaseException) -> None:
        if self._rolled_back:
            return
        self._rolled_back = self._rolling_back = True
        try:
            with self.telemetry_span("rollback"):
                self.rollback()
        except Exception as failure:
            self._rollback_error = failure
            cause.add_note(f"rollback() also failed: {type(failure).__name__}: {failure}")
        finally:
            self._rolling_back = False

    # -- documentation ------------------------------------------------------------------------
    @classmethod
    def documentation(cls) -> str | None:
        """The class's own docstring, dedented; not inherited from a base class."""
        own = cls.__dict__.get("__doc__")
        return inspect.cleandoc(own) if isinstance(own, str) and own.strip() else None

    @classmethod
    def import_path(cls) -> str:
        """`module:QualName`, how `processing-core run-task` finds this class in the image."""
        return f"{cls.__module__}:{cls.__qualname__}"
