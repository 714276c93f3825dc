"""Dates of local runs (`run --logical-date`, `--from-date/--to-date`), `run --force` and
`run --json`: the dates compared with what Airflow's own timetables give the exported DAG,
and the runs made for real through `processing-core run`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import run_cli

from processing_core import TaskBase, Workflow
from processing_core.errors import LocalRunError
from processing_core.local.dates import DATA_INTERVALS_VARIABLE, backfill_dates, run_dates

DAILY = "dated_pipeline:raw_to_daily_etl"


class Noop(TaskBase):
    def run(self) -> None:
        pass


def scheduled(schedule: str, start: datetime) -> Workflow:
    workflow = Workflow("raw", "dated", "check", version="1.0.0", schedule=schedule,
                        start_date=start, workflow_package="test_local_dates")  # fmt: skip
    workflow.add_node(Noop)
    return workflow


SCHEDULES = [
    ("@daily", datetime(2026, 1, 1, tzinfo=UTC)),
    ("*/30 6-8 * * 1-5", datetime(2026, 1, 1, tzinfo=UTC)),
    ("@monthly", datetime(2025, 6, 1, tzinfo=UTC)),
    ("15 4 * * *", datetime(2026, 1, 1, tzinfo=ZoneInfo("Pacific/Auckland"))),
]


@pytest.mark.parametrize("intervals", ["false", "true"])
@pytest.mark.parametrize(("schedule", "start"), SCHEDULES)
def test_local_dates_are_those_airflows_timetable_gives_the_exported_dag(
    schedule, start, intervals, monkeypatch
):
    """Both of Airflow's readings of a cron schedule ([scheduler] create_cron_data_intervals):
    the backfill's runs as `airflow backfill create` lists them, and a manual run's interval
    as the trigger form infers it."""
    from airflow.serialization.serialized_objects import DagSerialization

    from processing_core.airflow.dag import to_dag

    monkeypatch.setenv(DATA_INTERVALS_VARIABLE, intervals)
    workflow = scheduled(schedule, start)
    dag = DagSerialization.from_dict(DagSerialization.to_dict(to_dag(workflow, "local")))
    first, last = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 6, 12, tzinfo=UTC)
    if schedule == "@monthly":
        first = datetime(2025, 7, 1, tzinfo=UTC)
    expected = [
        (info.logical_date, info.data_interval.start, info.data_interval.end)
        for info in dag.iter_dagrun_infos_between(first, last)
    ]
    ours = [
        (dates.logical_date, dates.data_interval_start, dates.data_interval_end)
        for dates in backfill_dates(workflow, first.isoformat(), last.isoformat())
    ]
    assert expected and ours == expected
    assert {dates.run_type for dates in backfill_dates(workflow, first.isoformat(),
                                                       last.isoformat())} == {"backfill"}  # fmt: skip
    for moment in (datetime(2026, 3, 4, 7, 10, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)):
        interval = dag.timetable.infer_manual_data_interval(run_after=moment)
        manual = run_dates(workflow, moment.isoformat())
        assert (manual.data_interval_start, manual.data_interval_end) == (
            interval.start,
            interval.end,
        )
        assert (manual.logical_date, manual.run_type) == (moment, "manual")


def test_dates_that_cannot_be_used_are_refused_naming_the_option_and_the_fix():
    daily = scheduled("@daily", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(LocalRunError, match=r"--logical-date 'yesterday' is not an ISO 8601"):
        run_dates(daily, "yesterday")
    with pytest.raises(LocalRunError, match="--to-date 2026-03-01 is before --from-date"):
        backfill_dates(daily, "2026-03-05", "2026-03-01")
    with pytest.raises(LocalRunError, match=r"no run of schedule .* widen the range"):
        backfill_dates(scheduled("0 0 1 1 *", datetime(2026, 1, 1, tzinfo=UTC)),
                       "2026-03-02", "2026-03-05")  # fmt: skip
    with pytest.raises(LocalRunError, match=r"more than 1000 runs .* shorter range"):
        backfill_dates(scheduled("* * * * *", datetime(2026, 1, 1, tzinfo=UTC)),
                       "2026-03-01", "2026-03-02")  # fmt: skip
    unscheduled = Workflow("raw", "manual", "check", version="1.0.0",
                           workflow_package="test_local_dates")  # fmt: skip
    with pytest.raises(LocalRunError, match=r"no time schedule .* --logical-date instead"):
        backfill_dates(unscheduled, "2026-03-01", "2026-03-02")
    # Airflow backfills only intervals that have ended.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    with pytest.raises(LocalRunError, match="no run of schedule"):
        backfill_dates(daily, tomorrow, tomorrow)
    # A date without a time zone is UTC, as Airflow's CLI reads it.
    assert run_dates(daily, "2026-03-04T06:00").logical_date == datetime(2026, 3, 4, 6, tzinfo=UTC)


def run(tmp_path: Path, *args: str):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return run_cli("run", DAILY, "--run-dir", str(tmp_path / "runs"), "--param", f"work={work}",
                   *args, cwd=tmp_path)  # fmt: skip


def seen(tmp_path: Path) -> list[dict]:
    lines = (tmp_path / "work" / "dates.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_a_run_at_a_logical_date_gives_its_tasks_the_dates_and_reports_one_json_document(
    tmp_path,
):
    completed = run(tmp_path, "--logical-date", "2026-03-04", "--json")
    assert completed.returncode == 0, completed.stderr
    (record,) = seen(tmp_path)
    assert record == {
        "task": "extract", "run_id": "local__20260304T000000Z", "run_type": "manual",
        "logical_date": "2026-03-04T00:00:00+00:00", "start": "2026-03-04T00:00:00+00:00",
        "end": "2026-03-04T00:00:00+00:00",
    }  # fmt: skip
    document = json.loads(completed.stdout)  # standard output is the document alone
    assert document["schema"] == "processing-core/local-run/1" and document["succeeded"]
    (entry,) = document["runs"]
    assert entry["run_id"] == "local__20260304T000000Z" and entry["state"] == "success"
    assert entry["logical_date"] == "2026-03-04T00:00:00+00:00"
    assert Path(entry["folder"]).is_absolute() and (Path(entry["folder"]) / "run.json").is_file()
    assert entry["tasks"]["load"]["result"]["outputs"] == {"loads": 1}
    assert entry["tasks"]["extract"]["seconds"] > 0 and entry["seconds"] > 0
    # Progress went to standard error, with the closing summary.
    assert "extract success" in completed.stderr and "2 task(s) in" in completed.stderr

    # The same date again: load's complete() finds its work done; --force recomputes it.
    again = json.loads(run(tmp_path, "--logical-date", "2026-03-04", "--json").stdout)
    assert again["runs"][0]["run_id"] == "local__20260304T000000Z_1"  # its own folder
    assert again["runs"][0]["tasks"]["load"]["state"] == "skipped"
    forced = run(tmp_path, "--logical-date", "2026-03-04", "--json", "--force")
    load = json.loads(forced.stdout)["runs"][0]["tasks"]["load"]
    assert (load["state"], load["result"]["outputs"]) == ("success", {"loads": 2})
    assert (tmp_path / "work" / "loaded-2026-03-04").read_text() == "2"


@pytest.mark.slow
def test_a_backfill_makes_one_run_per_day_goes_on_past_a_failed_day_and_resumes_it(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "broken-2026-03-02").touch()
    completed = run(tmp_path, "--from-date", "2026-03-01", "--to-date", "2026-03-03", "--json")
    assert completed.returncode == 1
    document = json.loads(completed.stdout)
    runs = document["runs"]
    assert not document["succeeded"]
    assert [(r["run_id"], r["run_type"], r["state"]) for r in runs] == [
        ("backfill__20260301T000000Z", "backfill", "success"),
        ("backfill__20260302T000000Z", "backfill", "failed"),
        ("backfill__20260303T000000Z", "backfill", "success"),
    ]
    assert [record["logical_date"][:10] for record in seen(tmp_path)] == [
        "2026-03-01", "2026-03-02", "2026-03-03",
    ]  # fmt: skip
    failed = runs[1]
    assert failed["tasks"]["extract"]["result"]["message"] == "RuntimeError: no data for 2026-03-02"
    assert failed["tasks"]["load"]["state"] == "upstream_failed"
    # The failed day's own resume command, word for word, again at the end of the backfill.
    resume = f"processing-core run {DAILY} --resume {failed['folder']}"
    assert completed.stderr.count(resume) == 2
    assert completed.stderr.strip().splitlines()[-2:] == ["1 of 3 runs did not succeed:", resume]

    (tmp_path / "work" / "broken-2026-03-02").unlink()
    resumed = run_cli("run", DAILY, "--resume", failed["folder"], "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    entry = json.loads(resumed.stdout)["runs"][0]
    assert (entry["run_id"], entry["logical_date"]) == (failed["run_id"], failed["logical_date"])
    # Only the failed day ran again, with its own dates.
    assert [record["logical_date"][:10] for record in seen(tmp_path)][3:] == ["2026-03-02"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-date", "2026-03-01"], "--from-date and --to-date go together"),
        (["--logical-date", "03/04/2026"], "--logical-date '03/04/2026' is not an ISO 8601"),
        (
            [
                "--logical-date",
                "2026-03-04",
                "--from-date",
                "2026-03-01",
                "--to-date",
                "2026-03-02",
            ],
            "leave out --logical-date",
        ),
    ],
)
def test_date_options_that_do_not_fit_fail_before_any_run_starts(tmp_path, args, message):
    completed = run(tmp_path, *args, "--json")
    assert completed.returncode == 1
    assert message in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "runs").exists()
    # A tool reading the document learns why nothing ran.
    document = json.loads(completed.stdout)
    assert (document["succeeded"], document["runs"]) == (False, [])
    assert message in document["error"]


@pytest.mark.slow
def test_a_resumed_run_keeps_its_dates(tmp_path):
    run(tmp_path, "--logical-date", "2026-03-04")
    (folder,) = (tmp_path / "runs" / "raw_to_daily_etl_1.0.0").iterdir()
    completed = run_cli("run", DAILY, "--resume", str(folder), "--logical-date", "2026-03-05",
                        cwd=tmp_path)  # fmt: skip
    assert completed.returncode == 1
    assert "a resumed run keeps the dates it started with" in completed.stderr
