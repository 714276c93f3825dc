"""The artifact-repository DAG bundle in a real dag-processor (a subprocess, SQLite), reading
a loopback Artifactory-like repository that `processing-core publish` writes to: versions
appear and go by the retention without restarting anything, a tampered archive is refused,
and an unreachable repository leaves the last good set."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from artifactory import Repository
from conftest import VENV_BIN, airflow_env, run_cli
from deployment import stop_group, wait_until
from ports import HeldPort

from processing_core.release.index import RepositoryIndex

pytestmark = pytest.mark.slow
TOKEN = "bundle-reader-token"
BUNDLE = "pipelines"
INDEX_PATH = "/artifactory/dags-local/index.json"


def publish(root: Path, repository: Repository, version: str) -> Path:
    out = root / f"bundle-{version}"
    made = run_cli("bundle", "workflows", "--version", version, "--out", str(out))
    assert made.returncode == 0, made.stderr
    (archive,) = out.glob("*.zip")
    done = run_cli("publish", str(archive), "--url", repository.url, ARTIFACTORY_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    return archive


def dags(home: Path) -> dict[str, bool]:
    """dag_id -> whether Airflow lists it (not stale), for the bundle's DAGs."""
    with sqlite3.connect(home / "airflow.db") as connection:
        rows = connection.execute(
            "SELECT dag_id, is_stale FROM dag WHERE bundle_name = ?", (BUNDLE,)
        ).fetchall()
    return {dag_id: not stale for dag_id, stale in rows}


def listed(home: Path) -> set[str]:
    return {dag_id for dag_id, active in dags(home).items() if active}


def wait_for(what: str, check, log: Path, timeout: float = 90):
    return wait_until(what, check, timeout, lambda: log.read_text()[-4000:])


def requests_of(repository: Repository, path: str) -> int:
    """How many times the repository was asked for `path` (any method, any query)."""
    return sum(1 for _, asked in repository.requests if asked.split("?")[0] == path)


def of(*versions: str) -> set[str]:
    """The dag_ids of the example's versions."""
    return {f"{name}_{v}" for name in ("l0_to_l1_vbi", "l0_to_quicklook_vbi") for v in versions}


def worker_bundle(storage: Path, repository: Repository, version: str | None, monkeypatch,
                  **kwargs):  # fmt: skip
    """The bundle as Airflow builds it in a process (a worker, given `version`), with its
    storage in `storage`."""
    from processing_core.airflow.bundle import ArtifactRepositoryDagBundle

    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH", str(storage))
    monkeypatch.setenv("ARTIFACTORY_TOKEN", TOKEN)
    return ArtifactRepositoryDagBundle(
        name=BUNDLE, url=repository.url, distributions=["workflows"], version=version,
        **(kwargs or {"keep": 2}),
    )  # fmt: skip


def test_published_versions_come_and_go_in_a_running_dag_processor(tmp_path, monkeypatch):
    repository = Repository(TOKEN)
    home = tmp_path / "home"
    env = airflow_env(
        home, tmp_path / "unused-dags-folder",
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="2",
        **repository.bundle_settings(tmp_path / "bundles", "workflows", keep=2),
    )  # fmt: skip
    publish(tmp_path, repository, "1.0.0")
    log = tmp_path / "dag-processor.log"
    with log.open("wb") as sink:
        processor = subprocess.Popen([str(VENV_BIN / "airflow"), "dag-processor"], env=env,
                                     stdout=sink, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip
    try:
        wait_for("1.0.0 listed", lambda: listed(home) == of("1.0.0"), log)
        publish(tmp_path, repository, "1.1.0")
        wait_for("1.1.0 beside 1.0.0", lambda: listed(home) == of("1.0.0", "1.1.0"), log)
        publish(tmp_path, repository, "1.2.0")  # keep=2: 1.0.0 goes
        wait_for("1.0.0 gone", lambda: listed(home) == of("1.1.0", "1.2.0"), log)
        cache = tmp_path / "bundles" / BUNDLE / "archives"
        kept = RepositoryIndex.parse(repository.files[INDEX_PATH])
        assert sorted(p.name for p in cache.iterdir()) == sorted(
            kept.get("workflows", v).archive_sha256 for v in ("1.1.0", "1.2.0")
        )  # 1.0.0's unpacked archive (kept by its sha256) went with it
        # 1.3.0's archive changed after publishing: refused, and the set stays. (Published
        # elsewhere first, so no refresh ever sees the good bytes.)
        elsewhere = Repository(TOKEN)
        try:
            good = publish(tmp_path / "elsewhere", elsewhere, "1.3.0")
            entry = RepositoryIndex.parse(elsewhere.files[INDEX_PATH]).get("workflows", "1.3.0")
            manifest = elsewhere.files[f"/artifactory/dags-local/{entry.manifest}"]
        finally:
            elsewhere.close()
        changed = bytearray(good.read_bytes())
        changed[-1] ^= 0xFF  # same size, other bytes (a longer one is refused by its size)
        repository.files[f"/artifactory/dags-local/{good.name}"] = bytes(changed)
        repository.files[f"/artifactory/dags-local/{entry.manifest}"] = manifest
        index = RepositoryIndex.parse(repository.files[INDEX_PATH])
        index.add("workflows", "1.3.0", entry)
        repository.files[INDEX_PATH] = index.to_json()
        wait_for("the refusal", lambda: "Skipping workflows 1.3.0" in log.read_text(), log)
        assert "refusing a changed archive" in log.read_text()
        assert listed(home) == of("1.1.0", "1.2.0")
        # Three refreshes later (three more reads of the index), the refused archive was
        # neither fetched nor logged again.
        archive = f"/artifactory/dags-local/{good.name}"
        fetched, reads = requests_of(repository, archive), requests_of(repository, INDEX_PATH)
        wait_for("three more refreshes",
                 lambda: requests_of(repository, INDEX_PATH) >= reads + 3, log)  # fmt: skip
        assert requests_of(repository, archive) == fetched >= 1
        assert log.read_text().count("Skipping workflows 1.3.0") == 1
        # A worker given the set's version rebuilds exactly that set, from the index as it
        # was (1.3.0 came later), in a bundle storage of its own.
        current = (tmp_path / "bundles" / BUNDLE / "current").readlink().name
        assert current.startswith("3-")
        worker = worker_bundle(tmp_path / "worker", repository, current, monkeypatch)
        worker.initialize()
        assert sorted(p.name for p in worker.path.iterdir()) == [
            "workflows-1.1.0", "workflows-1.2.0"
        ]  # fmt: skip
        gone = worker_bundle(tmp_path / "worker2", repository, "3-0000000000000000", monkeypatch)
        with pytest.raises(ValueError, match="the repository no longer holds set 3-0000"):
            gone.initialize()
        # The repository goes away: the last good set stays, one line per refresh.
        refreshes = log.read_text().count("Refreshing bundle")
        repository.close()
        wait_for("three refreshes without the repository",
                 lambda: log.read_text().count("Refreshing bundle") >= refreshes + 3
                 and log.read_text().count("cannot read") >= 2, log)  # fmt: skip
        assert listed(home) == of("1.1.0", "1.2.0")
        text = log.read_text()
        since = text.count("Refreshing bundle") - refreshes
        # One line per refresh (the last may not have logged yet): a warning, then "still".
        assert since - 1 <= text.count("cannot read") <= since
        assert text.count(f"Bundle {BUNDLE}: cannot read") == 1
        assert TOKEN not in text
    finally:
        stop_group(processor)
        repository.close()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"url": "ftp://x/y", "keep": 1}, "give the repository folder `publish` writes to"),
        ({"url": "https://u:p@x/y", "keep": 1}, "url holds credentials"),
        ({"url": "https://x/y"}, "give keep=N"),
        ({"url": "https://x/y", "keep": 0}, "keep=0: give a whole number >= 1"),
        ({"url": "https://x/y", "keep": 1, "distributions": "workflows"}, "must be a list"),
        ({"url": "https://x/y", "keep": 1, "version": "../../etc"}, "is not one this bundle made"),
    ],
)
def test_a_bundle_configuration_that_cannot_work_is_refused(kwargs, fragment):
    from processing_core.airflow.bundle import ArtifactRepositoryDagBundle

    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        ArtifactRepositoryDagBundle(name=BUNDLE, **kwargs)


def test_an_allow_list_picks_the_versions(tmp_path, monkeypatch):
    repository = Repository(TOKEN)
    try:
        for version in ("1.0.0", "1.1.0"):
            publish(tmp_path, repository, version)
        bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch,
                               versions=["1.0.0"])  # fmt: skip
        bundle.refresh()
        assert [p.name for p in bundle.path.iterdir()] == ["workflows-1.0.0"]
        assert bundle.get_current_version().version.startswith("2-")
    finally:
        repository.close()


def test_an_airflow_connection_gives_the_credentials(tmp_path, monkeypatch):
    repository = Repository(TOKEN)
    try:
        publish(tmp_path, repository, "1.0.0")
        monkeypatch.setenv("AIRFLOW_CONN_ARTIFACTORY", json.dumps({"conn_type": "http",
                                                                   "password": TOKEN}))  # fmt: skip
        bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=1,
                               conn_id="artifactory")  # fmt: skip
        monkeypatch.delenv("ARTIFACTORY_TOKEN")
        bundle.refresh()
        assert [p.name for p in bundle.path.iterdir()] == ["workflows-1.0.0"]
        assert repository.authorizations[-1] == f"Bearer {TOKEN}"
        assert "<token>" in repr(bundle._auth()) and TOKEN not in repr(bundle._auth())
    finally:
        repository.close()


def test_no_version_is_dropped_while_airflow_cannot_say_which_runs_are_in_progress(
    tmp_path, monkeypatch, caplog
):
    repository = Repository(TOKEN)
    nobody = HeldPort()  # bound, not listening: refused, and handed to no other server
    try:
        publish(tmp_path, repository, "1.0.0")
        bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=1)
        bundle.refresh()
        publish(tmp_path, repository, "1.1.0")
        monkeypatch.setenv("AIRFLOW_API_URL", nobody.url)
        bundle.refresh()
        assert sorted(p.name for p in bundle.path.iterdir()) == [
            "workflows-1.0.0", "workflows-1.1.0"
        ]  # fmt: skip
        assert bundle.get_current_version().version.endswith("+1")
        assert "cannot ask Airflow at http://127.0.0.1:" in caplog.text
        assert "dropping no version until Airflow answers" in caplog.text
        bundle.refresh()  # still unanswered: the same set, and no second warning
        assert caplog.text.count("dropping no version until Airflow answers") == 1
    finally:
        nobody.release()
        repository.close()
