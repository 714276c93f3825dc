"""The `processing-core` command: export, validate and list workflows; run a task.

Every error reaches the person as one paragraph naming the culprit and the fix, with exit
code 1 (2 for a command line that does not parse, and `run-task`'s documented codes); never
a traceback, unless `--debug` (or PROCESSING_CORE_DEBUG) asks for one. All of it is masked.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from processing_core.cli_help import HumaneCommand, HumaneGroup
from processing_core.errors import ProcessingCoreError

if TYPE_CHECKING:
    from processing_core.build_utils import ExportResult

app = typer.Typer(
    name="processing-core",
    cls=HumaneGroup,
    help="Turn pipeline workflows into versioned Airflow DAG files, and run their tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Every command's help names values as people do (cli_help).
command = functools.partial(app.command, cls=HumaneCommand)

PackageArgument = Annotated[
    str, typer.Argument(help="Importable package holding the workflows, e.g. `workflows`.")
]
WorkflowReference = Annotated[
    str,
    typer.Argument(
        metavar="PACKAGE[:WORKFLOW]",
        help="The package, and optionally one workflow by name, e.g. `workflows:l0_to_l1_vbi`.",
    ),
]
VersionOption = Annotated[
    str | None,
    typer.Option(
        "--version",
        help="Version of every workflow (default: declared, then BUILD_VERSION, then the "
        "installed distribution's version).",
    ),
]
TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        help="Where tasks run: `kubernetes` (KubernetesPodOperator in the pipeline image) or "
        "`local` (BashOperator on the Airflow worker).",
    ),
]


_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="PROCESSING_CORE_DEBUG",
            help="Show the full traceback of an error (secrets still masked).",
        ),
    ] = False,
) -> None:
    """Turn pipeline workflows into versioned Airflow DAG files, and run their tasks."""
    _state["debug"] = debug


def _error(message: str) -> None:
    from processing_core.masking import mask

    typer.secho(f"Error: {mask(message)}", fg=typer.colors.RED, err=True)


def _fail(error: ProcessingCoreError | str) -> typer.Exit:
    _error(str(error))
    return typer.Exit(code=1)


def _render(
    package: str, version: str | None, target: str, image: str | None
) -> list[ExportResult]:
    from processing_core.build_utils import discover_workflows, render_workflows
    from processing_core.nodes.dag import ExportOptions

    options = ExportOptions.create(target=target, version=version, image=image)
    return render_workflows(discover_workflows(package), options)


@command()
def export(
    package: PackageArgument,
    out: Annotated[Path, typer.Option("--out", help="Folder to write `<dag_id>.py` files into.")],
    version: VersionOption = None,
    target: TargetOption = "kubernetes",
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            help="Image repository (tagged with the version) or a full reference with tag or "
            "@sha256 digest; default PIPELINE_IMAGE_REPOSITORY, else the package name.",
        ),
    ] = None,
) -> None:
    """Validate every workflow of PACKAGE and write one DAG file per workflow version.

    All or nothing: if any workflow is invalid, nothing is written and every problem is listed.
    """
    from rich.console import Console
    from rich.progress import Progress

    from processing_core.build_utils import discover_workflows, export_workflows
    from processing_core.nodes.dag import ExportOptions

    console = Console(stderr=True)
    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out} is a file; pass a folder to write the DAG files into")
    try:
        options = ExportOptions.create(target=target, version=version, image=image)
        workflows = discover_workflows(package)
        with Progress(console=console, transient=True, disable=len(workflows) < 20) as progress:
            bar = progress.add_task("Exporting", total=len(workflows))
            results = export_workflows(
                workflows, out, options, progress=lambda _w: progress.advance(bar)
            )
    except ProcessingCoreError as error:
        raise _fail(error) from None
    for result in results:
        typer.echo(f"{out / result.file_name}  ({result.task_count} tasks)")
        for note in result.workflow.export_notes():
            typer.echo(f"note: {result.dag_id}: {note}", err=True)
    _warn(results)
    console.print(f"[green]Exported {len(results)} workflow(s) to {out}[/green]")


@command()
def validate(
    package: PackageArgument,
    version: VersionOption = None,
    target: TargetOption = "kubernetes",
) -> None:
    """Check every workflow of PACKAGE as export would, without writing anything.

    A workflow without a version here (its package not installed, no BUILD_VERSION) is
    checked as version 0.0.0, said once: every other problem is still found.
    """
    from processing_core.build_utils import discover_workflows, render_workflows
    from processing_core.errors import ExportError
    from processing_core.nodes.dag import ExportOptions, has_version

    try:
        options = ExportOptions.create(target=target, version=version)
        options = replace(options, fallback_version=VALIDATE_PLACEHOLDER_VERSION)
        workflows = discover_workflows(package)
        unversioned = [w.name for w in workflows if not version and not has_version(w, options)]
        if unversioned:
            typer.echo(
                f"note: no version for {', '.join(unversioned)} (the package is not installed "
                f"and BUILD_VERSION is unset): checked as {VALIDATE_PLACEHOLDER_VERSION}; export "
                "needs --version, BUILD_VERSION or the installed package",
                err=True,
            )
        results = render_workflows(workflows, options)
    except ExportError as error:
        raise _fail(error.report()) from None
    except ProcessingCoreError as error:
        raise _fail(error) from None
    _warn(results)
    typer.echo(f"{len(results)} workflow(s) valid.")


def _warn(results: list[ExportResult]) -> None:
    """The likely mistakes that did not stop the export (Workflow.warnings)."""
    for result in results:
        _warn_of(result.dag_id, result.workflow.warnings())


def _warn_of(label: str, warnings: list[str]) -> None:
    for warning in warnings:
        typer.secho(f"warning: {label}: {warning}", err=True, fg=typer.colors.YELLOW)


# The version `validate` checks a workflow as when it resolves none.
VALIDATE_PLACEHOLDER_VERSION = "0.0.0"


@command("list")
def list_workflows(package: PackageArgument, version: VersionOption = None) -> None:
    """List the workflows of PACKAGE: name, version, dag_id and number of tasks."""
    from rich.console import Console
    from rich.table import Table

    try:
        results = _render(package, version, "kubernetes", None)
    except ProcessingCoreError as error:
        raise _fail(error) from None
    table = Table("workflow", "version", "dag_id", "tasks")
    for result in results:
        table.add_row(result.workflow.name, result.version, result.dag_id, str(result.task_count))
    Console().print(table)


@command("run")
def run_workflow(
    reference: WorkflowReference,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="A run parameter, NAME=VALUE (repeatable)."),
    ] = None,
    params_file: Annotated[
        Path | None, typer.Option("--params-file", help="Run parameters, a JSON object.")
    ] = None,
    from_task: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Run this task and its downstream (with --resume: others' results reused).",
        ),
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this task (repeatable).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="An earlier run's folder: rerun what did not succeed and what depends on it.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Run the tasks even when their complete() says the work is already done.",
        ),
    ] = False,
    logical_date: Annotated[
        str | None,
        typer.Option(
            "--logical-date",
            metavar="DATE",
            help="The run's logical date (ISO 8601; UTC unless it says otherwise), with the "
            "data interval Airflow gives a run triggered at that date.",
        ),
    ] = None,
    from_date: Annotated[
        str | None,
        typer.Option(
            "--from-date",
            metavar="DATE",
            help="Backfill: one run per schedule time from this date on (with --to-date), "
            "one after another, each in its own resumable folder.",
        ),
    ] = None,
    to_date: Annotated[
        str | None,
        typer.Option("--to-date", metavar="DATE", help="Backfill: the last date (included)."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Tasks run at once, at most.")
    ] = 2,
    run_dir: Annotated[
        Path, typer.Option("--run-dir", help="Where run folders go: DIR/<dag_id>/<run_id>/.")
    ] = Path("runs"),
    version: VersionOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document for the whole run (states, results, timings) on "
            "standard output; progress goes to standard error.",
        ),
    ] = False,
) -> None:
    """Run a workflow's tasks on this machine, in dependency order, through `run-task`.

    Each task runs in a subprocess as in production (Spark tasks with local Spark),
    independent tasks in parallel. The run's folder keeps each task's parameters, inputs,
    result and log; `--resume` it to rerun only what did not succeed. Exit code 1 when a task
    failed (130 when interrupted).
    """
    import signal
    import time

    from processing_core.build_utils import select_workflows
    from processing_core.errors import ExportError
    from processing_core.local.run_document import document, run_entry
    from processing_core.local.session import check_run, missing_secrets, prepare_run

    try:
        workflows = select_workflows(reference)
        if resume is not None and len(workflows) > 1:
            from processing_core.local.run_folder import RunFolder

            recorded = RunFolder.open(resume).summary.workflow
            workflows = [w for w in workflows if w.name == recorded] or workflows[:1]
        plans = _run_plans(workflows, logical_date, from_date, to_date, resume)
        if resume is None:  # every mistake shows before the first task runs
            for workflow in workflows:
                _warn_of(workflow.name, workflow.warnings())
                check_run(
                    workflow, params=param or (), params_file=params_file,
                    from_task=from_task, only=only or (), version=version,
                )  # fmt: skip
    except ProcessingCoreError as error:  # discovery, options, parameters: nothing ran
        message = error.report() if isinstance(error, ExportError) else str(error)
        if as_json:
            typer.echo(_masked_json(document([], error=message)))
        raise _fail(message) from None

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # A runner stopped by SIGTERM stops its tasks as Ctrl-C does: rolled back, resumable.
    signal.signal(signal.SIGTERM, interrupted)
    out = sys.stderr if as_json else sys.stdout  # --json: standard output is the document
    entries: list[dict[str, Any]] = []
    unfinished: list[Path] = []  # the folders of the runs that did not succeed
    warned: set[str] = set()
    for workflow, dates in plans:
        try:
            run = prepare_run(
                workflow, params=param or (), params_file=params_file, from_task=from_task,
                only=only or (), resume=resume, run_dir=run_dir, version=version,
                workers=workers, dates=dates, force=force,
            )  # fmt: skip
        except ProcessingCoreError as error:
            if as_json:
                typer.echo(_masked_json(document(entries, error=str(error))))
            raise _fail(error) from None
        for line in missing_secrets(run):  # once per command, not per day of a backfill
            if line not in warned:
                warned.add(line)
                typer.secho(line, err=True, fg=typer.colors.YELLOW)
        began = time.time()
        try:
            failed = _execute_run(run, reference, out)
        except KeyboardInterrupt:
            if as_json:
                entries.append(run_entry(run.folder, began=began, ended=time.time(),
                                         interrupted=True))  # fmt: skip
                typer.echo(_masked_json(document(entries)))
            _error(f"interrupted; resume with: {_resume_command(reference, run.folder.path)}")
            raise typer.Exit(code=130) from None
        entries.append(run_entry(run.folder, began=began, ended=time.time(), interrupted=False))
        if failed:
            unfinished.append(run.folder.path)
            typer.echo(
                "fix the cause, then rerun what did not succeed: "
                + _resume_command(reference, run.folder.path),
                err=True,
            )
    if len(entries) > 1 and unfinished:  # a backfill's failed days, after all its output
        typer.echo(f"{len(unfinished)} of {len(entries)} runs did not succeed:", err=True)
        for folder in unfinished:
            typer.echo(_resume_command(reference, folder), err=True)
    if as_json:
        typer.echo(_masked_json(document(entries)))
    if unfinished:
        raise typer.Exit(code=1)


def _run_plans(
    workflows: list[Any],
    logical_date: str | None,
    from_date: str | None,
    to_date: str | None,
    resume: Path | None,
) -> list[tuple[Any, Any]]:
    """(workflow, RunDates or None) of each run the command makes, in order."""
    from processing_core.errors import LocalRunError
    from processing_core.local.dates import backfill_dates, run_dates

    if (from_date is None) != (to_date is None):
        raise LocalRunError("--from-date and --to-date go together: give both, or neither")
    if from_date is not None and (logical_date is not None or resume is not None):
        raise LocalRunError(
            "--from-date/--to-date make a new run per date: leave out --logical-date and "
            "--resume (resume one of its runs by its folder)"
        )
    if from_date is not None and to_date is not None:
        return [
            (workflow, dates)
            for workflow in workflows
            for dates in backfill_dates(workflow, from_date, to_date)
        ]
    if logical_date is not None:
        return [(workflow, run_dates(workflow, logical_date)) for workflow in workflows]
    return [(workflow, None) for workflow in workflows]


def _execute_run(run: Any, reference: str, out: Any) -> bool:
    """Run one prepared run, showing its progress on `out`; whether a task of it failed.
    KeyboardInterrupt once its tasks were stopped."""
    from processing_core.local.progress import LiveProgress, PlainProgress
    from processing_core.local.run_folder import split_key
    from processing_core.local.runner import failed_tasks

    summary = run.folder.summary
    for task_id, pid in run.stopped:
        typer.echo(
            f"{task_id}: stopped pid {pid}, left running by an earlier runner of "
            f"{run.folder.path}; it runs again",
            err=True,
        )
    dated = f" ({summary.dates['logical_date']})" if summary.dates.get("logical_date") else ""
    print(
        f"{summary.dag_id} {summary.run_id}{dated}: {len(run.to_run)} task(s) in {run.folder.path}",
        file=out,
        flush=True,
    )
    order = list(run.to_run)
    if out.isatty() and out is sys.stdout:
        progress: LiveProgress | PlainProgress = LiveProgress(order, summary.tasks)
    else:
        progress = PlainProgress(order, summary.tasks, stream=out)
    try:
        run.execute(progress)
    finally:
        progress.close()
    failed = False
    for task_id, record, log in failed_tasks(run.folder):
        if split_key(task_id)[0] in run.to_run:
            failed = True
            # Only a task that ran has a log (not an upstream_failed one, nor a mapped
            # node: its instances' lines name theirs).
            where = f" (log: {log})" if log.is_file() else ""
            typer.secho(
                f"{task_id}: {record.state}: {record.message}{where}",
                err=True,
                fg=typer.colors.RED,
            )
    return failed


def _masked_json(value: Any) -> str:
    from processing_core.masking import mask

    return mask(json.dumps(value, indent=2))


def _resume_command(reference: str, folder: Path) -> str:
    """The command that resumes a run, as one can paste it into a shell."""
    import shlex

    return shlex.join(["processing-core", "run", reference, "--resume", str(folder)])


@command("graph")
def graph(
    reference: WorkflowReference,
    form: Annotated[
        str,
        typer.Option(
            "--format", help="`mermaid` (Markdown), `dot` (Graphviz), `svg` or `png` (people)."
        ),
    ] = "mermaid",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="A file for one workflow, a folder for several (<name>.<format>); default: "
            "standard output (text formats only).",
        ),
    ] = None,
) -> None:
    """Draw a workflow's graph: task ids, classes, resource profiles, Spark tasks."""
    from processing_core.build_utils import select_workflows
    from processing_core.errors import ExportError
    from processing_core.render.graph import FORMATS, render_graph

    if form not in FORMATS:
        raise _fail(f"--format {form!r} is not one of {list(FORMATS)}")
    try:
        workflows = select_workflows(reference)
    except ExportError as error:
        raise _fail(error.report()) from None
    except ProcessingCoreError as error:
        raise _fail(error) from None
    if out is None and form == "png":
        raise _fail("--format png writes a file: give --out FILE (or --out FOLDER)")
    for workflow in workflows:
        try:
            picture = render_graph(workflow, form)  # type: ignore[arg-type]
        except ProcessingCoreError as error:
            raise _fail(error) from None
        if out is None:
            typer.echo(picture.decode(), nl=False)
            continue
        from processing_core.fileops import atomic_write

        target = out / f"{workflow.name}.{form}" if len(workflows) > 1 or out.is_dir() else out
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, picture)
        typer.echo(str(target))


@command("notebook")
def notebook(
    reference: WorkflowReference,
    out: Annotated[Path, typer.Option("--out", help="Folder for the <dag_id>.ipynb files.")],
    version: VersionOption = None,
) -> None:
    """Write a Jupyter notebook per workflow version for manual runs: a cell per task."""
    from processing_core.build_utils import select_workflows
    from processing_core.errors import ExportError
    from processing_core.extras import require
    from processing_core.render.notebook import write_notebooks

    try:
        require("nbformat", "processing-core notebook")
        for target in write_notebooks(select_workflows(reference), out, version):
            typer.echo(str(target))
    except ExportError as error:
        raise _fail(error.report()) from None
    except ProcessingCoreError as error:
        raise _fail(error) from None


@command("init")
def init(
    folder: Annotated[Path, typer.Argument(help="Where the new repository goes (new or empty).")],
    name: Annotated[
        str, typer.Option("--name", help="The pipeline's distribution name, e.g. vbi-pipeline.")
    ],
    processing_core: Annotated[
        str | None,
        typer.Option(
            "--processing-core",
            metavar="SPEC",
            help="The pipeline's requirement of processing-core, e.g. 'processing-core>=1.4' or "
            "the path of a checkout or wheel (default: where this processing-core was "
            "installed from, else its version).",
        ),
    ] = None,
) -> None:
    """Write a new pipeline repository that works at once: a package with a workflow of two
    tasks, its tests, a Dockerfile for the pipeline image, CI that bundles and publishes on
    tags, a towncrier changelog and a README."""
    import shlex

    from processing_core.scaffold import write_scaffold
    from processing_core.scaffold.dependency import chosen, installed

    try:
        dependency = chosen(processing_core) if processing_core is not None else installed()
        written = write_scaffold(folder, name, dependency)
    except ProcessingCoreError as error:
        raise _fail(error) from None
    for path in written:
        typer.echo(str(path))
    note = dependency.local_note()
    if note:
        typer.echo(f"note: {note}", err=True)
    typer.echo(
        f"Next: cd {shlex.quote(str(folder))} && python3 -m venv .venv && "
        ".venv/bin/pip install -e . (then see its README.md)"
    )


@command(
    "run-task",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def run_task(context: typer.Context) -> None:
    """Run one task: pre_run, run, post_run (rollback on failure or SIGTERM); write its result.

    Options: `processing-core run-task --help` (parsed apart from the rest of the command
    line, so a task's start imports only what it uses).
    """
    from processing_core.runtime.command import run_task_main

    raise typer.Exit(code=run_task_main(list(context.args)))


@command()
def bundle(
    package: PackageArgument,
    version: Annotated[str, typer.Option("--version", help="The version to bundle.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the archive into.")],
    target: TargetOption = "kubernetes",
    image: Annotated[
        str | None, typer.Option("--image", help="Image repository or reference, as for export.")
    ] = None,
    image_digest: Annotated[
        str | None,
        typer.Option("--image-digest", help="The image's digest (sha256:...), for the manifest."),
    ] = None,
    sign: Annotated[
        Path | None,
        typer.Option(
            "--sign",
            help="Sign the bundle with this Ed25519 private key (from `keygen` or `ssh-keygen "
            "-t ed25519`; its passphrase in BUNDLE_SIGNING_KEY_PASSPHRASE).",
        ),
    ] = None,
) -> None:
    """Validate and export every workflow of PACKAGE into one reproducible archive.

    `<distribution>-dags-<version>.zip` holds the DAG files and a manifest.json (versions of
    the distribution, processing-core, Airflow and providers; the image; each workflow with
    its dag_id, task ids and the sha256 of its file). The same inputs give the same bytes.
    With --sign, a signature.json over the manifest: deployments that trust the key
    (BUNDLE_TRUSTED_KEYS) take only bundles it signed.
    """
    from processing_core.build_utils import discover_workflows, render_workflows
    from processing_core.nodes.dag import ExportOptions
    from processing_core.release.bundle import build_manifest, distribution_of, write_bundle

    if out.exists() and not out.is_dir():
        raise _fail(f"--out {out} is a file; pass a folder to write the archive into")
    if image_digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", image_digest):
        typer.secho(
            f"Error: --image-digest {image_digest!r} is not of the form sha256:<64 hex digits>",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=1)
    try:
        signing_key = _signing_key(sign) if sign is not None else None
        options = ExportOptions.create(target=target, version=version, image=image)
        workflows = discover_workflows(package)
        results = render_workflows(workflows, options)
    except ProcessingCoreError as error:
        raise _fail(error) from None
    reference = options.image_for(workflows[0], version) if target == "kubernetes" else None
    manifest = build_manifest(
        results,
        distribution=distribution_of(package),
        version=version,
        image=reference,
        image_digest=image_digest,
    )
    written = write_bundle(results, manifest, out, signing_key)
    typer.echo(str(written.path))


def _signing_key(path: Path) -> Any:
    from processing_core.config import ReleaseSettings, load
    from processing_core.release.signing import load_signing_key

    passphrase = load(ReleaseSettings).bundle_signing_key_passphrase
    return load_signing_key(path, passphrase.get_secret_value() if passphrase else None)


TrustedKeyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-key",
        help="A public key (`ssh-ed25519 AAAA...`, or a file of them) the bundle must be signed "
        "by; repeatable, added to BUNDLE_TRUSTED_KEYS.",
    ),
]


def _release_checks(trusted_key: list[str] | None) -> tuple[Any, Any]:
    """The bundle limits and the trusted keys (BUNDLE_TRUSTED_KEYS and --trusted-key)."""
    from processing_core.config import ReleaseSettings, load
    from processing_core.release.archive import BundleLimits

    settings = load(ReleaseSettings)
    return BundleLimits.from_settings(settings), settings.trusted_keys(*(trusted_key or []))


@command()
def verify(
    archive: Annotated[Path, typer.Argument(help="A bundle made by `bundle`.")],
    trusted_key: TrustedKeyOption = None,
) -> None:
    """Check a bundle as `install` would (signature when keys are trusted, manifest, names,
    listed files only, sizes, checksums), then that Airflow loads every DAG file with the
    tasks the manifest lists. No file of the archive is parsed before every check passed.
    """
    from processing_core.release.verify import verify_bundle

    try:
        limits, trusted = _release_checks(trusted_key)
    except ProcessingCoreError as error:
        raise _fail(error) from None
    problems = verify_bundle(archive, limits, trusted)
    if problems:
        typer.secho(f"Error: {archive} is not sound:", fg=typer.colors.RED, err=True)
        for problem in problems:
            typer.echo(f"- {problem}", err=True)
        raise typer.Exit(code=1)
    signed = _signed_by(archive, trusted)
    typer.echo(f"{archive}: {signed}manifest, checksums and DAG files are sound.")


def _signed_by(archive: Path, trusted: Any) -> str:
    """How the sound bundle at `archive` is signed, for people."""
    from processing_core.release.archive import open_archive, read_signature
    from processing_core.release.signing import claimed_signer

    with open_archive(archive) as opened:
        signer = claimed_signer(read_signature(opened, []))
    if signer is None:
        return "unsigned; "
    return f"signed by {signer}{' (trusted)' if trusted else ' (not checked: no key trusted)'}; "


@command()
def keygen(
    path: Annotated[
        Path, typer.Argument(help="Where the private key goes; the public key goes to PATH.pub.")
    ],
    comment: Annotated[
        str, typer.Option("--comment", help="A note on the public key, e.g. the team's name.")
    ] = "",
) -> None:
    """Make an Ed25519 key pair for signing bundles (`bundle --sign PATH`).

    The private key (PEM, readable by its owner only; encrypted with
    BUNDLE_SIGNING_KEY_PASSPHRASE when set) signs in CI; the public key line goes into the
    deployments' BUNDLE_TRUSTED_KEYS. Never overwrites a key.
    """
    from processing_core.config import ReleaseSettings, load
    from processing_core.release.signing import fingerprint_of_line, generate_key

    try:
        passphrase = load(ReleaseSettings).bundle_signing_key_passphrase
        line = generate_key(path, passphrase.get_secret_value() if passphrase else None, comment)
    except ProcessingCoreError as error:
        raise _fail(error) from None
    typer.echo(f"private key: {path} (keep it secret: a CI secret, never in a repository)")
    typer.echo(f"public key:  {path}.pub ({fingerprint_of_line(line)})")
    typer.echo(f"trust it:    BUNDLE_TRUSTED_KEYS='{line}'")


@command()
def publish(
    archive: Annotated[Path, typer.Argument(help="A bundle made by `bundle`.")],
    url: Annotated[str, typer.Option("--url", help="Repository folder URL to PUT into.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a version that is already published.")
    ] = False,
) -> None:
    """PUT the bundle and its manifest to an Artifactory-style repository.

    Sends X-Checksum-Sha256/Sha1 headers, credentials from ARTIFACTORY_TOKEN (or
    ARTIFACTORY_USERNAME/ARTIFACTORY_PASSWORD), retries server errors by RETRY_CONFIG, and
    refuses to overwrite a published version unless --force. Then records the version in
    the folder's index.json (what the artifact-repository DAG bundle reads).
    """
    from rich.console import Console
    from rich.progress import Progress

    from processing_core.config import load_settings
    from processing_core.release.publish import publish_bundle

    size = archive.stat().st_size if archive.is_file() else 0
    settings = load_settings()
    with Progress(console=Console(stderr=True), transient=True, disable=size < 1 << 20) as bar:
        task = bar.add_task(f"Uploading {archive.name}", total=size)
        report = publish_bundle(
            archive, url, settings, force=force, progress=lambda n: bar.advance(task, n)
        )
    for target in report.unchanged:
        typer.echo(f"already published, identical: {target}")
    for target in report.written:
        typer.echo(f"published {target}")
    typer.echo(f"{'updated' if report.index_written else 'unchanged'}: {report.index}")


DagsFolderOption = Annotated[
    Path, typer.Option("--dags-folder", help="The Airflow DAGs folder (one sub-folder a version).")
]


@command()
def install(
    archive: Annotated[Path, typer.Argument(help="A bundle made by `bundle`.")],
    dags_folder: DagsFolderOption,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace an installed version of the same number with other files."
        ),
    ] = False,
    trusted_key: TrustedKeyOption = None,
) -> None:
    """Unpack a bundle into the DAGs folder as `<distribution>-<version>/`, atomically.

    Runs the same checks as `verify` (without parsing the files) and installs exactly the
    files the manifest lists, with the DAGs folder's permissions. The same version with the
    same files is left as it is; with other files it is refused unless --force. Installs
    and prunes of one DAGs folder take turns (a lock), and whatever a killed one left beside
    the folder is cleared by the next. With trusted keys (BUNDLE_TRUSTED_KEYS, --trusted-key)
    only a bundle signed by one of them is installed.
    """
    from processing_core.release.install import install_bundle

    try:
        limits, trusted = _release_checks(trusted_key)
    except ProcessingCoreError as error:
        raise _fail(error) from None
    installed = install_bundle(archive, dags_folder, limits, force=force, trusted=trusted)
    typer.echo(
        f"{installed.outcome} {installed.distribution} {installed.version} in {installed.folder}"
    )


@command()
def versions(dags_folder: DagsFolderOption) -> None:
    """List the installed versions of each distribution, newest first, with their dag_ids.

    Exits 1 when some version folder cannot be read (each is named).
    """
    from processing_core.release.install import inventory

    found = inventory(dags_folder)
    for installed in found.versions:
        typer.echo(f"{installed.distribution} {installed.version}  {' '.join(installed.dag_ids)}")
    _unreadable(found.problems)


@command()
def prune(
    dags_folder: DagsFolderOption,
    keep: Annotated[int, typer.Option("--keep", min=1, help="Versions to keep of each.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Remove old versions even with runs in progress (or unknown)."
        ),
    ] = False,
) -> None:
    """Remove old versions of each distribution from the DAGs folder; never the newest N.

    A version with a queued or running run stays (Airflow is asked: AIRFLOW_API_URL, else
    its metadata database) until --force. A folder whose manifest cannot be read is left
    alone and named (exit 1).
    """
    from processing_core.config import ReleaseSettings, load
    from processing_core.release.active_runs import ActiveRunsUnknown, active_dag_ids
    from processing_core.release.install import prune as prune_versions

    try:
        settings = load(ReleaseSettings)
        report = prune_versions(
            dags_folder, keep, lambda dag_ids: active_dag_ids(dag_ids, settings), force=force
        )
    except ActiveRunsUnknown as error:
        raise _fail(
            f"{error}; nothing was removed: a version removed under a running run leaves it "
            "stuck. Pass --force to prune without asking"
        ) from None
    for version in report.removed:
        typer.echo(f"removed {version.distribution} {version.version}")
    for version, running in report.kept_active:
        typer.echo(
            f"kept {version.distribution} {version.version}: {', '.join(running)} has a queued "
            "or running run; prune again when it ends, or pass --force"
        )
    _unreadable(report.problems)


@command()
def backlog(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="dag_ids or workflow names (all asset-scheduled DAGs if none)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per DAG.")] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 when events are stranded or missed."),
    ] = False,
) -> None:
    """Say how many stored asset events of each asset-scheduled DAG are not yet in a run.

    Read from Airflow's metadata database (run it where Airflow is configured). `waiting`
    events are newer than the DAG's last asset-triggered run; `stranded` ones have no queued
    run (the scheduler's processing-core plugin queues them again within
    ASSET_QUEUE_REPAIR_SECONDS); `missed` ones are older than the last run yet in no run.
    """
    from processing_core.extras import require

    try:
        require("airflow", "backlog")
        from processing_core.airflow.asset_queue import read_backlog

        found = read_backlog(names or ())
    except ProcessingCoreError as error:
        raise _fail(error) from None
    for item in found:
        typer.echo(_backlog_line(item, as_json))
    if not found:
        typer.echo("no asset-scheduled DAG" + (f" named {' '.join(names)}" if names else ""))
    if check and any(item.stranded or item.missed for item in found):
        raise typer.Exit(code=1)


def _backlog_line(item: Any, as_json: bool) -> str:
    import json
    from datetime import UTC, datetime

    oldest = min((pending.oldest for pending in item.pending), default=None)
    if as_json:
        return json.dumps(
            {
                "dag_id": item.dag_id,
                "paused": item.paused,
                "waiting": item.waiting,
                "stranded": item.stranded,
                "missed": item.missed,
                "queued_runs": item.queued_runs,
                "oldest_waiting": oldest.isoformat() if oldest else None,
                "assets": {pending.asset_name: pending.events for pending in item.pending},
            },
            sort_keys=True,
        )
    line = f"{item.dag_id}: {item.waiting} waiting"
    if item.waiting:
        age = int((datetime.now(UTC) - oldest).total_seconds()) if oldest else 0
        line += f" (oldest {age} s ago), {item.stranded} stranded"
    if item.missed:
        line += f", {item.missed} missed"
    line += f"; {item.queued_runs} run(s) queued"
    return line + ("; paused" if item.paused else "")


def _unreadable(problems: list[str]) -> None:
    for problem in problems:
        _error(problem)
    if problems:
        raise typer.Exit(code=1)


events_app = typer.Typer(
    help="Status events on the interservice bus (RabbitMQ).", no_args_is_help=True, cls=HumaneGroup
)
app.add_typer(events_app, name="events")
events_command = functools.partial(events_app.command, cls=HumaneCommand)


@events_command("schema")
def events_schema() -> None:
    """Print the JSON Schema of a status event's body."""
    from processing_core.events.model import event_json_schema

    typer.echo(event_json_schema())


@events_command("flush")
def events_flush() -> None:
    """Deliver the events kept in the outbox (EVENTS_OUTBOX) to RabbitMQ.

    Waits for any other delivery of the same outbox to finish; moves entries that are not
    valid events to its `quarantine/` folder. Exits 1 when some are still kept (the broker
    is unreachable or refuses them).
    """
    from processing_core.config import EventSettings, load
    from processing_core.events.publisher import EventPublisher

    try:
        settings = load(EventSettings)
    except ProcessingCoreError as error:
        raise _fail(error) from None
    with EventPublisher(settings) as publisher:
        report = publisher.flush()
    folder = publisher.outbox.folder
    line = f"{report.delivered} event(s) delivered, {report.kept} kept in {folder}"
    if report.quarantined:
        line += f", {report.quarantined} quarantined in {folder / 'quarantine'}"
    typer.echo(line)
    if report.error:
        host, port = settings.isb_address()
        _error(
            f"RabbitMQ at {host}:{port} did not take every event ({report.error}); run "
            "`processing-core events flush` again once it is reachable"
        )
    if report.kept:
        raise typer.Exit(code=1)


@events_command("tail")
def events_tail(
    workflow: Annotated[
        str | None, typer.Option("--workflow", help="Only events of this workflow name.")
    ] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Only events of this run.")] = None,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after this many events.")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, help="Stop after this many idle seconds.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each event's JSON body.")] = False,
) -> None:
    """Follow live events (from a private queue bound to ISB_EXCHANGE) and print them."""
    from processing_core.config import EventSettings, load
    from processing_core.events.tail import tail_events

    try:
        settings = load(EventSettings)
    except ProcessingCoreError as error:
        raise _fail(error) from None
    from processing_core.events.publisher import PUBLISH_ERRORS, describe

    try:
        tail_events(settings, workflow=workflow, run_id=run_id, count=count, timeout=timeout,
                    as_json=as_json)  # fmt: skip
    except PUBLISH_ERRORS as error:
        host, port = settings.isb_address()
        raise _fail(
            f"cannot follow events on RabbitMQ at {host}:{port} ({describe(error)}); start the "
            "broker, or point ISB_HOST and ISB_PORT at it"
        ) from None


@command("settings")
def show_settings(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the table of variables (as in the README).")
    ] = False,
) -> None:
    """Print every environment setting and its current value (secrets masked)."""
    from processing_core.config import load_settings, settings_markdown

    if markdown:
        typer.echo(settings_markdown(), nl=False)
        return
    try:
        settings = load_settings()
    except ProcessingCoreError as error:
        raise _fail(error) from None
    from processing_core.masking import mask, register_secrets

    # Secrets inside other values too (a password in a MESH_CONFIG address).
    register_secrets(settings.secret_values())
    for name, value in settings.model_dump(mode="json").items():
        # SecretStr dumps as "**********"; passwords inside URLs are masked too.
        text = value if isinstance(value, str) else json.dumps(value)
        typer.echo(f"{name.upper()}={mask(text)}")


@command("spark-main")
def spark_main() -> None:
    """Print the installed path of the Spark tasks' main application file.

    A pipeline image links it where SPARK_ON_K8S_MAIN_APPLICATION_FILE points, e.g.
    `RUN ln -s "$(processing-core spark-main)" /opt/processing-core/spark_main.py`.
    """
    from importlib.util import find_spec

    spec = find_spec("processing_core.runtime.spark_main")
    assert spec is not None and spec.origin is not None
    typer.echo(spec.origin)


def main() -> None:
    """The typer application's entry point (`processing_core.console.main` dispatches here)."""
    from processing_core.report import explain

    try:
        app(prog_name="processing-core")
    except SystemExit as stop:
        # typer turns Ctrl-C into a silent exit 130 (Exit raised from the KeyboardInterrupt).
        if stop.code == 130 and isinstance(
            getattr(stop.__context__, "__cause__", None), KeyboardInterrupt
        ):
            _error("interrupted")
        raise
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)
    except Exception as error:
        if _state["debug"]:
            import traceback

            from processing_core.masking import mask

            sys.stderr.write(mask("".join(traceback.format_exception(error))))
        _error(explain(error, _state["debug"]))
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
