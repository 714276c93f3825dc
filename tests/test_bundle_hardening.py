"""The artifact-repository DAG bundle against a repository that drips, floods, serves huge
answers or unsigned bundles: the real `ArtifactRepositoryDagBundle.refresh()` (as the
dag-processor calls it, holding the bundle's lock) against a loopback HTTP server. Every
refresh ends within its deadlines, holds little memory, fetches an archive once however many
entries list it, and says what it refused in a few lines."""

from __future__ import annotations

import json
import logging
import re
import threading
import tracemalloc
from pathlib import Path

import pytest
from artifactory import Repository, drip, endless
from test_artifact_bundle import INDEX_PATH, TOKEN, publish, worker_bundle

# Airflow sets up logging when first imported: before a test's caplog handler, not over it.
import processing_core.airflow.bundle  # noqa: F401
from processing_core.release.index import IndexEntry, RepositoryIndex

pytestmark = pytest.mark.slow
BASE = "/artifactory/dags-local"


@pytest.fixture
def repository():
    repository = Repository(TOKEN)
    yield repository
    repository.close()


def refreshed(bundle, within: float = 60) -> None:
    """Run `bundle.refresh()` as the dag-processor does; fail if it has not returned in time
    (the test's own bound, far above the bundle's deadlines: a liveness check)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            bundle.refresh()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"refresh() still busy after {within} s"
    assert not errors, errors


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.0 200 OK\r\nContent-Length: 1000000\r\n\r\n",  # the body a byte at a time
        b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 200,  # the headers a byte at a time
    ],
    ids=["body", "headers"],
)
def test_an_index_that_drips_costs_a_refresh_its_deadline_not_forever(
    tmp_path, repository, monkeypatch, caplog, head
):
    publish(tmp_path, repository, "1.0.0")
    monkeypatch.setenv("BUNDLE_FETCH_SECONDS", "2")
    bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=1)
    refreshed(bundle)
    first = bundle.get_current_version().version
    repository.answers[f"{BASE}/index.json"] = drip(head, every=0.2)
    caplog.set_level(logging.INFO)
    refreshed(bundle, within=30)
    assert (
        "index.json: no complete answer within 2 s (BUNDLE_FETCH_SECONDS)); keeping the "
        "last set" in caplog.text
    )
    assert bundle.get_current_version().version == first  # the last good set stays
    # The lock is free: the next refresh runs (and is bounded the same way).
    refreshed(bundle, within=30)


def add_entry(repository: Repository, distribution: str, version: str, entry: IndexEntry) -> None:
    index = RepositoryIndex.parse(repository.files[INDEX_PATH])
    index.add(distribution, version, entry)
    repository.files[INDEX_PATH] = index.to_json()


@pytest.mark.parametrize("declared", [None, 400 << 20], ids=["no-length", "declared-400MiB"])
def test_a_huge_archive_is_refused_at_its_bound_with_little_memory(
    tmp_path, repository, monkeypatch, caplog, declared
):
    monkeypatch.setenv("BUNDLE_MAX_TOTAL_BYTES", str(1 << 20))  # archives: 1 MiB + 1 MiB slack
    published = publish(tmp_path, repository, "1.0.0")
    good = RepositoryIndex.parse(repository.files[INDEX_PATH]).get("workflows", "1.0.0")
    # 1.1.0's archive answers 64 MiB (no size in the index: the hard bound applies).
    huge = IndexEntry("workflows-dags-1.1.0.zip", "c" * 64, good.manifest, good.manifest_sha256)
    add_entry(repository, "workflows", "1.1.0", huge)
    repository.answers[f"{BASE}/{huge.archive}"] = endless(64 << 20, declared)
    bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=1)
    caplog.set_level(logging.INFO)
    tracemalloc.start()
    try:
        refreshed(bundle)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak:,} bytes"  # was the whole answer, held in memory
    assert f"Skipping workflows 1.1.0: {repository.url}/{huge.archive} is" in caplog.text
    assert f"more than the {(1 << 20) + (1 << 20)} bytes allowed; refusing it" in caplog.text
    assert repository.requests.count(("GET", f"{BASE}/{huge.archive}")) == 1
    assert [p.name for p in bundle.path.iterdir()] == ["workflows-1.0.0"]  # the next newest
    staged = list((tmp_path / "storage").rglob(".staging-*"))
    assert staged == []  # nothing of it left on disk
    # Refused for good: not fetched again.
    before = repository.requests.count(("GET", f"{BASE}/{huge.archive}"))
    add_entry(
        repository, "other", "0.1.0", IndexEntry("x.zip", "d" * 64, "x.manifest.json", "e" * 64)
    )  # fmt: skip  (a new index state)
    refreshed(bundle)
    assert repository.requests.count(("GET", f"{BASE}/{huge.archive}")) == before
    assert published.is_file()


def test_an_archive_larger_than_the_index_says_is_refused_at_that_size(
    tmp_path, repository, monkeypatch, caplog
):
    publish(tmp_path, repository, "1.0.0")
    entry = RepositoryIndex.parse(repository.files[INDEX_PATH]).get("workflows", "1.0.0")
    assert entry.archive_size is not None  # publish records it
    repository.answers[f"{BASE}/{entry.archive}"] = endless(entry.archive_size + (1 << 20))
    bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=1)
    caplog.set_level(logging.INFO)
    refreshed(bundle)
    assert f"more than the {entry.archive_size} bytes allowed; refusing it" in caplog.text
    assert bundle.get_current_version() is None or not any(bundle.path.iterdir())


def test_thousands_of_entries_naming_one_archive_fetch_it_once_and_log_a_few_lines(
    tmp_path, repository, monkeypatch, caplog
):
    publish(tmp_path, repository, "1.0.0")
    document = json.loads(repository.files[INDEX_PATH])
    versions = document["distributions"]["workflows"]
    versions |= {  # junk versions, every one pointing at 1.0.0's archive
        f"2.0.{n}": {**versions["1.0.0"], "seq": n + 1} for n in range(1, 5001)
    }
    repository.files[INDEX_PATH] = json.dumps(document).encode()
    real = RepositoryIndex.parse(repository.files[INDEX_PATH]).get("workflows", "1.0.0")
    bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=2)
    caplog.set_level(logging.INFO)
    refreshed(bundle)
    archive = ("GET", f"{BASE}/{real.archive}")
    assert repository.requests.count(archive) == 1  # was one download per entry
    assert [p.name for p in bundle.path.iterdir()] == ["workflows-1.0.0"]
    skipped = [r for r in caplog.records if r.getMessage().startswith("Skipping workflows 2.0.")]
    assert len(skipped) == 5
    assert "holds workflows 1.0.0, not what the index says" in skipped[0].getMessage()
    assert "Bundle pipelines: 4995 more versions skipped, as above" in caplog.text
    caplog.clear()
    # The next refreshes: nothing fetched or logged again.
    refreshed(bundle)
    assert repository.requests.count(archive) == 1
    assert "Skipping" not in caplog.text


def test_an_index_too_large_or_too_long_is_refused_in_one_line(
    tmp_path, repository, monkeypatch, caplog
):
    publish(tmp_path, repository, "1.0.0")
    bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=1)
    refreshed(bundle)
    first = bundle.get_current_version().version
    document = json.loads(repository.files[INDEX_PATH])
    real = document["distributions"]["workflows"]["1.0.0"]
    versions = document["distributions"]["workflows"]
    versions |= {f"2.0.{n}": {**real, "seq": n + 1} for n in range(1, 150_001)}
    listed = json.dumps(document).encode()
    assert len(listed) > 8 << 20  # tens of MB
    caplog.set_level(logging.INFO)
    repository.files[INDEX_PATH] = listed
    refreshed(bundle)
    assert "more than the 8388608 bytes allowed (BUNDLE_MAX_INDEX_BYTES)" in caplog.text
    caplog.clear()
    monkeypatch.setenv("BUNDLE_MAX_INDEX_BYTES", str(256 << 20))
    roomy = worker_bundle(tmp_path / "storage2", repository, None, monkeypatch, keep=1)
    refreshed(roomy)
    assert "it lists 150001 versions, more than the 10000 a reader takes" in caplog.text
    assert repository.requests.count(("GET", f"{BASE}/{real['archive']}")) == 1  # the first set's
    assert bundle.get_current_version().version == first
    assert len([r for r in caplog.records if "BUNDLE_MAX_INDEX_ENTRIES" in r.getMessage()]) == 1


def test_a_refresh_spends_at_most_its_time_downloading_and_says_what_waits(
    tmp_path, repository, monkeypatch, caplog
):
    """An archive that drips takes the refresh's whole budget (BUNDLE_REFRESH_SECONDS); the
    versions after it wait for the next refresh, named in one line."""
    for version in ("1.0.0", "1.1.0"):
        publish(tmp_path, repository, version)
    index = RepositoryIndex.parse(repository.files[INDEX_PATH])
    slow = index.get("workflows", "1.1.0")
    repository.answers[f"{BASE}/{slow.archive}"] = drip(
        b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n", every=0.2
    )
    monkeypatch.setenv("BUNDLE_FETCH_SECONDS", "30")
    monkeypatch.setenv("BUNDLE_REFRESH_SECONDS", "2")
    bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=2)
    caplog.set_level(logging.INFO)
    refreshed(bundle, within=30)
    assert "Skipping workflows 1.1.0 for now: GET" in caplog.text
    # What is left of the refresh's 2 s once 1.0.0 is in (less on a loaded machine), not 30 s.
    (left,) = re.findall(r"no complete answer within ([0-9.]+) s \(BUNDLE_REFRESH_SECONDS\)",
                         caplog.text)  # fmt: skip
    assert 0 < float(left) <= 2
    assert "spent 2 s (BUNDLE_REFRESH_SECONDS) downloading archives; 1 more wait" in caplog.text


def test_with_trusted_keys_the_bundle_uses_signed_versions_only(
    tmp_path, repository, monkeypatch, caplog
):
    from conftest import run_cli

    key = tmp_path / "release"
    assert run_cli("keygen", str(key)).returncode == 0
    publish(tmp_path, repository, "1.0.0")  # unsigned
    out = tmp_path / "signed"
    made = run_cli("bundle", "workflows", "--version", "1.1.0", "--out", str(out),
                   "--sign", str(key))  # fmt: skip
    assert made.returncode == 0, made.stderr
    done = run_cli("publish", made.stdout.strip(), "--url", repository.url,
                   ARTIFACTORY_TOKEN=TOKEN)  # fmt: skip
    assert done.returncode == 0, done.stderr
    caplog.set_level(logging.INFO)
    bundle = worker_bundle(tmp_path / "storage", repository, None, monkeypatch, keep=2,
                           trusted_keys=[f"{key}.pub"])  # fmt: skip
    refreshed(bundle)
    assert [p.name for p in bundle.path.iterdir()] == ["workflows-1.1.0"]
    assert "Skipping workflows 1.0.0: the bundle is unsigned" in caplog.text
    with pytest.raises(ValueError, match=r"trusted_keys: .* is neither an `ssh-ed25519"):
        worker_bundle(tmp_path / "s2", repository, None, monkeypatch, keep=1,
                      trusted_keys=["/no/such.pub"])  # fmt: skip
    assert json.loads(Path(bundle.path / "workflows-1.1.0" / "manifest.json").read_text())
