"""`processing-core run-task`: the command line of a task run, parsed with argparse.

It starts every task of every run, so it imports nothing it does not use: no typer, no
build-side module, no OpenTelemetry SDK or RabbitMQ client unless the run exports spans or
sends events. Its options are the single definition the DAG files' arguments follow.
"""

from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Run one task: pre_run, run, post_run (rollback on failure or SIGTERM); write its result.

Every outcome writes a result and sends a final event. Exit codes: 0 success, 1 the task
failed (or its result could not be written), 2 the task, its inputs or the settings could
not be loaded (or the command line does not parse), 130 interrupted (SIGINT), 143
terminated (SIGTERM).

Every JSON option also takes where its value is, for values too large for one argument
(128 KiB): `@FILE` (a file's text), `@-` (standard input), `@env:NAME` (the environment
variables NAME__1, NAME__2, ... joined)."""


# entrypoint.EXIT_UNUSABLE_INPUT, before the entrypoint (and loguru) may be imported.
EXIT_UNUSABLE_INPUT = 2


def _try_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return number


def _map_index(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number >= 0 (a mapped node's instance index)"
        )
    return number


def parser() -> argparse.ArgumentParser:
    """The options of `run-task` (the generated operators pass them as `--name=value`)."""
    command = argparse.ArgumentParser(
        prog="processing-core run-task",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    add = command.add_argument
    add("task", metavar="MODULE:CLASS", help="The task class, as `package.module:ClassName`.")
    add("--workflow-name", required=True, help="Name of the workflow running the task.")
    add("--workflow-version", required=True, help="Version of that workflow.")
    add("--task-id", required=True, help="The task's id in the workflow.")
    add("--dag-id", help="The Airflow dag_id.")
    add("--run-id", default="manual", help="Airflow's run id (default: manual).")
    add("--try-number", type=_try_number, default=1, help="Airflow's try number (default: 1).")
    add("--parameters", default="{}", help="The run's parameters as a JSON object.")
    add(
        "--declared-parameters",
        default="",
        help="The workflow's parameter declarations (a JSON list, as the DAG file passes); "
        "defaults are applied and values checked as Airflow does.",
    )
    add("--inputs", default="{}", help="Upstream task id -> its result (or outputs), JSON.")
    add("--logical-date", default="", help="The run's logical date, ISO 8601 (empty: none).")
    add("--data-interval-start", default="", help="Start of the data interval, ISO 8601.")
    add("--data-interval-end", default="", help="End of the data interval, ISO 8601.")
    add("--run-type", default="manual", help="Airflow's run type: manual, scheduled, ...")
    add("--conf", default="{}", help="The DAG run's conf, a JSON object.")
    add(
        "--asset-events",
        default="",
        help='The asset events that triggered the run: {"events": [...], "omitted": n}.',
    )
    add(
        "--produces",
        default="",
        help="The assets this node produces when they differ from its class's (a JSON list).",
    )
    add(
        "--map-index",
        type=_map_index,
        help="This instance's position in the list its node is mapped over (Airflow's map "
        "index); with --foreach.",
    )
    add(
        "--foreach",
        default="",
        help='What the node is mapped over, as the DAG file passes it: {"task": ..., '
        '"output": ...}; the instance runs on element --map-index of that upstream output.',
    )
    add(
        "--force",
        action="store_true",
        help="Run the task even when its complete() says the work is already done "
        "(recompute; `processing-core run --force` passes it).",
    )
    add(
        "--result-path",
        help="Where to write the result JSON; `-` for standard output. Default: RESULT_PATH, "
        "else not written.",
    )
    return command


def run_task_main(argv: list[str]) -> int:
    """Parse `argv` (after `run-task`), run the task, return the exit code."""
    options = parser().parse_args(argv)  # exits 2, with usage, on a bad command line
    # Started by `processing-core run` (local.processes.RUNNER_PID_VARIABLE): end with it.
    if "PROCESSING_CORE_RUNNER_PID" in os.environ:
        from processing_core.local.processes import die_with_runner

        die_with_runner()

    from processing_core.masking import MaskingStream, register_secrets

    # From here on, every byte the run writes to standard output or error is masked.
    sys.stdout = MaskingStream(sys.stdout)
    sys.stderr = MaskingStream(sys.stderr)

    from processing_core import environment
    from processing_core.errors import ProcessingCoreError
    from processing_core.runtime.run_settings import run_options

    # Whichever concern reads them, the secrets in the environment stay out of every text.
    register_secrets(environment.secret_values())
    try:
        run = run_options()
    except ProcessingCoreError as error:
        _error(str(error))
        return EXIT_UNUSABLE_INPUT
    try:
        _read_references(options)
    except ValueError as error:  # run_values.RunValueError
        _error(str(error))
        return EXIT_UNUSABLE_INPUT
    if "LOGURU_LEVEL" in os.environ:
        # loguru reads it itself when imported, case-sensitively: give it the checked value.
        os.environ["LOGURU_LEVEL"] = run.loguru_level

    from processing_core.runtime.loguru_start import import_loguru

    import_loguru()  # before anything imports loguru: without asyncio, a sixth of the start
    from processing_core.definition.task import RunContext, TaskBase
    from processing_core.events.emit import emitter_for
    from processing_core.runtime import entrypoint
    from processing_core.runtime.logging import configure_logging
    from processing_core.runtime.result import ResultPathError
    from processing_core.runtime.run_telemetry import telemetry_for

    configure_logging(
        run.loguru_level, run.log_format, route_standard_logging=run.route_standard_logging
    )
    context = RunContext(
        workflow_name=options.workflow_name,
        workflow_version=options.workflow_version,
        task_id=options.task_id,
        run_id=options.run_id,
        try_number=options.try_number,
        dag_id=options.dag_id,
        map_index=options.map_index,
    )

    def resolve() -> tuple[type[TaskBase], RunContext]:
        task_class = entrypoint.load_task_class(options.task, options.produces)
        # The task's Secret values are in its environment: keep them out of every text.
        register_secrets(os.environ.get(variable) for variable in task_class.secrets)
        entrypoint.warn_of_missing_secrets(task_class, context.task_id)
        return task_class, entrypoint.complete_context(
            context,
            parameters=options.parameters,
            inputs=options.inputs,
            declared_parameters=options.declared_parameters,
            logical_date=options.logical_date,
            data_interval_start=options.data_interval_start,
            data_interval_end=options.data_interval_end,
            run_type=options.run_type,
            conf=options.conf,
            asset_events=options.asset_events,
            foreach=options.foreach,
        )

    try:
        # Only the concerns this run uses are read: events when on, telemetry when exported.
        telemetry = telemetry_for(context)
        events = emitter_for()
        return entrypoint.run(
            resolve,
            context,
            options.result_path or run.result_path,
            telemetry=telemetry,
            events=events,
            force=options.force,
        )
    except (ProcessingCoreError, ResultPathError) as error:
        _error(str(error))
        return entrypoint.EXIT_UNUSABLE_INPUT


# The options whose value is JSON: each may instead name where its value is (`@FILE`, `@-`,
# `@env:NAME`; processing_core.run_values), for values too large for one argument.
JSON_OPTIONS = (
    "parameters",
    "declared_parameters",
    "inputs",
    "conf",
    "asset_events",
    "produces",
    "foreach",
)


def _read_references(options: argparse.Namespace) -> None:
    if not any(str(getattr(options, name) or "").startswith("@") for name in JSON_OPTIONS):
        return
    from processing_core.run_values import resolve

    used_stdin: list[str] = []
    for name in JSON_OPTIONS:
        text = getattr(options, name)
        if text:
            setattr(options, name, resolve(name.replace("_", "-"), text, used_stdin=used_stdin))


def _error(message: str) -> None:
    from processing_core.report import error_line

    error_line(message)
