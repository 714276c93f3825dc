"""Bundles, verification, publishing to a loopback repository, install and prune."""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import zipfile
from pathlib import Path

import pytest
from artifactory import Repository
from conftest import VENV_BIN, load_dagbag, run_cli, subprocess_env

from processing_core.release.install import install_bundle, installed_versions

TOKEN = "s3cret-artifactory-token"


ARCHIVE_PATH = "/artifactory/dags-local/workflows-dags-2.0.0.zip"


def bundle(out: Path, version: str = "2.0.0", image: str | None = None, **env: str) -> Path:
    extra = ["--image", image] if image else []
    completed = run_cli(
        "bundle", "workflows", "--version", version, "--out", str(out), *extra, **env
    )
    assert completed.returncode == 0, completed.stderr
    return Path(completed.stdout.strip().splitlines()[-1])


def rewrite(archive: Path, change) -> None:
    """Rewrite the archive's entries through `change(entries)`."""
    with zipfile.ZipFile(archive) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    change(entries)
    with zipfile.ZipFile(archive, "w") as target:
        for name, data in entries.items():
            target.writestr(name, data)


def test_bundle_is_reproducible_and_its_manifest_matches(tmp_path):
    first = bundle(tmp_path / "a", PYTHONHASHSEED="1")
    second = bundle(tmp_path / "b", PYTHONHASHSEED="2")
    assert first.name == "workflows-dags-2.0.0.zip"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["distribution"] == {"name": "workflows", "version": "2.0.0"}
        assert (
            manifest["airflow"]
            and manifest["providers"]["apache-airflow-providers-cncf-kubernetes"]
        )
        assert manifest["image"]["reference"] == "workflows:2.0.0"
        assert {w["dag_id"] for w in manifest["workflows"]} == {
            "l0_to_l1_vbi_2.0.0",
            "l0_to_quicklook_vbi_2.0.0",
        }
        for workflow in manifest["workflows"]:
            assert hashlib.sha256(archive.read(workflow["file"])).hexdigest() == workflow["sha256"]
        l1 = next(w for w in manifest["workflows"] if w["name"] == "l0_to_l1_vbi")
        assert l1["task_ids"][0] == "ingest" and len(l1["task_ids"]) == 6


def test_bundle_records_the_image_digest(tmp_path):
    digest = "sha256:" + "b" * 64
    completed = run_cli("bundle", "workflows", "--version", "2.0.0", "--out", str(tmp_path),
                        "--image", "registry.example.org/vbi", "--image-digest", digest)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    with zipfile.ZipFile(tmp_path / "workflows-dags-2.0.0.zip") as archive:
        image = json.loads(archive.read("manifest.json"))["image"]
    assert image == {"reference": "registry.example.org/vbi:2.0.0", "digest": digest}
    bad = run_cli(
        "bundle",
        "workflows",
        "--version",
        "2.0.0",
        "--out",
        str(tmp_path),
        "--image-digest",
        "latest",
    )
    assert bad.returncode == 1 and "--image-digest 'latest'" in bad.stderr


def test_verify_accepts_a_sound_bundle_and_names_each_defect(tmp_path):
    archive = bundle(tmp_path)
    sound = run_cli("verify", str(archive))
    assert sound.returncode == 0, sound.stderr
    name = "l0_to_l1_vbi_2.0.0.py"

    changed = tmp_path / "changed.zip"
    changed.write_bytes(archive.read_bytes())
    rewrite(changed, lambda e: e.__setitem__(name, e[name] + b"\n# tampered\n"))
    result = run_cli("verify", str(changed))
    assert result.returncode == 1 and f"{name}: sha256" in result.stderr

    missing = tmp_path / "missing.zip"
    missing.write_bytes(archive.read_bytes())
    rewrite(missing, lambda e: e.pop(name))
    result = run_cli("verify", str(missing))
    assert result.returncode == 1 and f"{name}: listed in the manifest but missing" in result.stderr

    def break_it(entries):
        entries[name] = b"raise RuntimeError('broken DAG file')\n"
        manifest = json.loads(entries["manifest.json"])
        for workflow in manifest["workflows"]:
            if workflow["file"] == name:
                workflow["sha256"] = hashlib.sha256(entries[name]).hexdigest()
        entries["manifest.json"] = json.dumps(manifest).encode()

    unloadable = tmp_path / "unloadable.zip"
    unloadable.write_bytes(archive.read_bytes())
    rewrite(unloadable, break_it)
    result = run_cli("verify", str(unloadable))
    assert result.returncode == 1
    assert f"{name}: Airflow cannot load it: RuntimeError: broken DAG file" in result.stderr


@pytest.fixture
def repository():
    repository = Repository(TOKEN)
    yield repository
    repository.close()


def test_publish_stores_the_archive_and_manifest_with_checksums(tmp_path, repository):
    archive = bundle(tmp_path)
    completed = run_cli("publish", str(archive), "--url", repository.url, ARTIFACTORY_TOKEN=TOKEN)
    assert completed.returncode == 0, completed.stderr
    path = "/artifactory/dags-local/workflows-dags-2.0.0.zip"
    assert repository.files[path] == archive.read_bytes()
    assert (
        repository.headers[path]["X-Checksum-Sha256"]
        == hashlib.sha256(archive.read_bytes()).hexdigest()
    )
    manifest = json.loads(
        repository.files["/artifactory/dags-local/workflows-dags-2.0.0.manifest.json"]
    )
    assert manifest["distribution"]["version"] == "2.0.0"
    assert TOKEN not in completed.stdout + completed.stderr


def test_publish_refuses_to_overwrite_unless_forced_and_never_deletes(tmp_path, repository):
    archive = bundle(tmp_path)
    first = run_cli("publish", str(archive), "--url", repository.url, ARTIFACTORY_TOKEN=TOKEN)
    assert first.returncode == 0, first.stderr
    # The same bytes again: nothing to do (a publish cut short can simply run again).
    again = run_cli("publish", str(archive), "--url", repository.url, ARTIFACTORY_TOKEN=TOKEN)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already published, identical") == 2
    other = bundle(tmp_path / "other", image="registry.example.org/other")
    refused = run_cli("publish", str(other), "--url", repository.url, ARTIFACTORY_TOKEN=TOKEN)
    assert refused.returncode == 1
    assert "already published with other content" in refused.stderr and "--force" in refused.stderr
    forced = run_cli(
        "publish", str(other), "--url", repository.url, "--force", ARTIFACTORY_TOKEN=TOKEN
    )
    assert forced.returncode == 0, forced.stderr
    assert repository.files[f"{ARCHIVE_PATH}"] == other.read_bytes()
    assert not [request for request in repository.requests if request[0] == "DELETE"]


def test_a_forced_publish_that_fails_leaves_the_published_version(tmp_path, repository):
    archive = bundle(tmp_path)
    assert run_cli("publish", str(archive), "--url", repository.url,
                   ARTIFACTORY_TOKEN=TOKEN).returncode == 0  # fmt: skip
    published = dict(repository.files)
    other = bundle(tmp_path / "other", image="registry.example.org/other")
    repository.fail_next = [500, 500]
    forced = run_cli("publish", str(other), "--url", repository.url, "--force",
                     ARTIFACTORY_TOKEN=TOKEN, RETRY_CONFIG='{"attempts": 2, "delay_seconds": 0.01}')  # fmt: skip
    assert forced.returncode == 1 and "answered 500" in forced.stderr
    assert repository.files == published  # upload first, replace only on success


def test_publish_never_sends_credentials_to_another_host(tmp_path, repository):
    elsewhere = Repository(None)
    try:
        # Same machine, another host name and port: requests drops the Authorization header.
        repository.redirect_to = f"http://localhost:{elsewhere.port}"
        archive = bundle(tmp_path)
        completed = run_cli("publish", str(archive), "--url", repository.url,
                            ARTIFACTORY_TOKEN=TOKEN)  # fmt: skip
        assert completed.returncode == 0, completed.stderr
        assert repository.authorizations and all(
            a == f"Bearer {TOKEN}" for a in repository.authorizations
        )
        assert elsewhere.requests and elsewhere.authorizations == [None] * len(elsewhere.requests)
        assert elsewhere.files[ARCHIVE_PATH] == archive.read_bytes()
    finally:
        elsewhere.close()


def test_publish_refuses_an_upload_a_redirect_turned_into_a_get(tmp_path, repository):
    elsewhere = Repository(None)
    try:
        # A 302 makes requests (like browsers) repeat a PUT as a GET: no upload happened.
        repository.redirect_to = f"http://127.0.0.1:{elsewhere.port}"
        repository.redirect_status = 302
        completed = run_cli("publish", str(bundle(tmp_path)), "--url", repository.url,
                            ARTIFACTORY_TOKEN=TOKEN)  # fmt: skip
        assert completed.returncode == 1
        assert "redirected the upload" in completed.stderr and "as a GET" in completed.stderr
        assert elsewhere.files == {} and "Traceback" not in completed.stderr
    finally:
        elsewhere.close()


def test_publish_explains_403_and_404(tmp_path):
    archive = bundle(tmp_path)
    locked = Repository(TOKEN, allow_overwrite=False)
    try:
        assert (
            run_cli(
                "publish", str(archive), "--url", locked.url, ARTIFACTORY_TOKEN=TOKEN
            ).returncode
            == 0
        )
        other = bundle(tmp_path / "other", image="registry.example.org/other")
        forced = run_cli(
            "publish", str(other), "--url", locked.url, "--force", ARTIFACTORY_TOKEN=TOKEN
        )
        assert forced.returncode == 1 and "answered 403" in forced.stderr
        assert "deploy (or overwrite)" in forced.stderr
        assert locked.files[ARCHIVE_PATH] == archive.read_bytes()
        locked.fail_next = [404]
        missing = run_cli("publish", str(archive), "--url", locked.url + "/elsewhere",
                          ARTIFACTORY_TOKEN=TOKEN)  # fmt: skip
        assert missing.returncode == 1 and "answered 404" in missing.stderr
        assert "check --url" in missing.stderr
    finally:
        locked.close()


@pytest.mark.parametrize(
    ("make", "url", "message"),
    [
        (
            lambda p: p.write_bytes(b"not a zip"),
            "http://127.0.0.1:9/x",
            "not a readable zip archive",
        ),
        (lambda p: None, "http://127.0.0.1:9/x", "does not exist"),
        ("bundle", "ftp://example.org/x", "is not an http(s) URL"),
        ("bundle", "127.0.0.1:8081/x", "is not an http(s) URL"),
        ("bundle", "http://user:hunter22@127.0.0.1:9/x", "--url holds credentials"),
    ],
)
def test_publish_refuses_what_is_not_a_bundle_or_not_a_url(tmp_path, make, url, message):
    archive = bundle(tmp_path) if make == "bundle" else tmp_path / "bundle.zip"
    if make != "bundle":
        make(archive)
    completed = run_cli("publish", str(archive), "--url", url, ARTIFACTORY_TOKEN=TOKEN)
    assert completed.returncode == 1
    assert message in completed.stderr and "Traceback" not in completed.stderr
    assert "hunter22" not in completed.stderr


def test_publish_explains_a_refused_token_and_never_shows_it(tmp_path, repository):
    archive = bundle(tmp_path)
    completed = run_cli(
        "publish", str(archive), "--url", repository.url, ARTIFACTORY_TOKEN="wrong-token-123"
    )
    assert completed.returncode == 1
    assert "answered 401" in completed.stderr and "ARTIFACTORY_TOKEN" in completed.stderr
    assert "wrong-token-123" not in completed.stdout + completed.stderr
    assert repository.files == {}


def test_publish_retries_a_503(tmp_path, repository):
    archive = bundle(tmp_path)
    repository.fail_next = [503]
    completed = run_cli("publish", str(archive), "--url", repository.url, ARTIFACTORY_TOKEN=TOKEN,
                        RETRY_CONFIG='{"attempts": 3, "delay_seconds": 0.05}')  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert (
        repository.requests.count(("PUT", "/artifactory/dags-local/workflows-dags-2.0.0.zip")) == 2
    )
    assert "/artifactory/dags-local/workflows-dags-2.0.0.zip" in repository.files


def test_publish_to_a_missing_repository_or_an_unreachable_one(tmp_path):
    archive = bundle(tmp_path)
    unreachable = run_cli("publish", str(archive), "--url", "http://127.0.0.1:9/dags", ARTIFACTORY_TOKEN=TOKEN,
                          RETRY_CONFIG='{"attempts": 2, "delay_seconds": 0.01}')  # fmt: skip
    assert (
        unreachable.returncode == 1 and "cannot reach http://127.0.0.1:9/dags" in unreachable.stderr
    )


def test_install_then_prune_keeps_the_newest_two(tmp_path):
    dags = tmp_path / "dags"
    for version in ("1.9.0", "1.10.0", "2.0.0"):
        archive = bundle(tmp_path / version, version)
        completed = run_cli("install", str(archive), "--dags-folder", str(dags))
        assert completed.returncode == 0, completed.stderr
    listed = run_cli("versions", "--dags-folder", str(dags)).stdout.splitlines()
    assert [line.split()[1] for line in listed] == ["2.0.0", "1.10.0", "1.9.0"]
    # --force: no Airflow to ask about runs here (tests/test_prune_safety.py asks a real one).
    pruned = run_cli("prune", "--dags-folder", str(dags), "--keep", "2", "--force")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.strip() == "removed workflows 1.9.0"
    assert sorted(p.name for p in dags.iterdir()) == [
        ".processing-core.lock",
        "workflows-1.10.0",
        "workflows-2.0.0",
    ]
    bag = load_dagbag(dags)
    assert bag.import_errors == {}
    assert {d for d in bag.dag_ids if d.startswith("l0_to_l1")} == {
        "l0_to_l1_vbi_1.10.0",
        "l0_to_l1_vbi_2.0.0",
    }
    assert (
        sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    )  # no leftovers


def test_a_crash_in_the_middle_of_install_leaves_no_partial_file(tmp_path):
    dags = tmp_path / "dags"
    install_bundle(bundle(tmp_path / "old", "1.0.0"), dags)
    before = {p.relative_to(dags): p.read_bytes() for p in dags.rglob("*") if p.is_file()}
    archive = bundle(tmp_path / "new", "2.0.0")
    # A real write error from the kernel: files over 1 KiB fail with EFBIG ("File too large"),
    # as a full disk fails with ENOSPC, in the middle of unpacking the first DAG file.
    completed = subprocess.run(
        [str(VENV_BIN / "processing-core"), "install", str(archive), "--dags-folder", str(dags)],
        env=subprocess_env(), capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024)),
    )  # fmt: skip
    assert completed.returncode == 1
    assert "File too large" in completed.stderr and "Traceback" not in completed.stderr
    after = {p.relative_to(dags): p.read_bytes() for p in dags.rglob("*") if p.is_file()}
    assert after == before  # the DAGs folder is exactly as it was
    assert [v.version for v in installed_versions(dags)] == ["1.0.0"]
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # staging removed


INDEX_PATH = "/artifactory/dags-local/index.json"


def test_publish_keeps_an_index_of_every_published_version(tmp_path, repository):
    def publish(archive: Path):
        done = run_cli("publish", str(archive), "--url", repository.url, ARTIFACTORY_TOKEN=TOKEN)
        assert done.returncode == 0, done.stderr
        return done

    first, second = bundle(tmp_path / "a"), bundle(tmp_path / "b", version="2.1.0")
    assert "updated: http://127.0.0.1" in publish(first).stdout
    publish(second)
    index = json.loads(repository.files[INDEX_PATH])
    assert index == {
        "format": 1,
        "distributions": {"workflows": {
            version: {
                "archive": f"workflows-dags-{version}.zip",
                "archive_sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
                "manifest": f"workflows-dags-{version}.manifest.json",
                "manifest_sha256": hashlib.sha256(
                    repository.files[f"/artifactory/dags-local/workflows-dags-{version}.manifest.json"]
                ).hexdigest(),
                "seq": seq,  # the order they were published in
            }
            for seq, version, archive in ((1, "2.0.0", first), (2, "2.1.0", second))
        }},
        # What a reader may download of each archive, at most (kept apart from the entries,
        # which readers before it check key by key).
        "archive_sizes": {a.name: a.stat().st_size for a in (first, second)},
    }  # fmt: skip
    # The index is written after the files it names, and read back.
    puts = [path for method, path in repository.requests if method == "PUT"]
    assert puts[-3:] == [
        "/artifactory/dags-local/workflows-dags-2.1.0.zip",
        "/artifactory/dags-local/workflows-dags-2.1.0.manifest.json",
        INDEX_PATH,
    ]
    assert repository.requests[-1] == ("GET", INDEX_PATH)
    # Publishing a version again changes nothing, the index included.
    before = len(repository.requests)
    assert "unchanged: http://127.0.0.1" in publish(second).stdout
    assert "PUT" not in {method for method, _ in repository.requests[before:]}


def test_publish_leaves_an_index_it_did_not_write_alone(tmp_path, repository):
    repository.files[INDEX_PATH] = b'{"somebody": "else"}'
    refused = run_cli("publish", str(bundle(tmp_path)), "--url", repository.url,
                      ARTIFACTORY_TOKEN=TOKEN)  # fmt: skip
    assert refused.returncode == 1
    assert f"{repository.url}/index.json is not an index processing-core keeps" in refused.stderr
    assert set(repository.files) == {INDEX_PATH}  # nothing uploaded


def test_an_index_the_credentials_cannot_overwrite_says_how_to_finish(tmp_path):
    locked = Repository(TOKEN, allow_overwrite=False)
    try:
        for version in ("2.0.0", "2.1.0"):
            done = run_cli("publish", str(bundle(tmp_path / version, version=version)),
                           "--url", locked.url, ARTIFACTORY_TOKEN=TOKEN)  # fmt: skip
        assert done.returncode == 1
        assert "workflows 2.1.0 is published, but index.json could not be updated" in done.stderr
        assert "allow the credentials to overwrite index.json, then run publish again" in (
            done.stderr.replace("\n", " ")
        )
        assert "/artifactory/dags-local/workflows-dags-2.1.0.zip" in locked.files
    finally:
        locked.close()


def test_an_index_names_each_past_state_by_one_number():
    from processing_core.release.index import IndexEntry, IndexFormatError, RepositoryIndex

    def entry(tag: str) -> IndexEntry:
        return IndexEntry(f"{tag}.zip", "a" * 64, f"{tag}.manifest.json", "b" * 64)

    index = RepositoryIndex.empty()
    index.add("workflows", "1.0.0", entry("one"))
    index.add("workflows", "1.1.0", entry("two"))
    index.add("other", "0.1.0", entry("three"))
    index.add("workflows", "1.0.0", entry("forced"))  # a forced publish replaced 1.0.0
    again = RepositoryIndex.parse(index.to_json())
    assert again.seq == 4 and again.to_json() == index.to_json()
    # As it was after the second publish: 1.0.0's replacement came later, so it is left out.
    assert set(again.as_of(3).distributions) == {"workflows", "other"}
    assert set(again.as_of(3).distributions["workflows"]) == {"1.1.0"}
    for broken, fragment in [
        (b"[]", "not an index of format 1"),
        (b'{"format": 1, "distributions": {"w": {"1": {"archive": "../x"}}}}', "an entry is"),
        (index.to_json().replace(b'"seq": 4', b'"seq": 0'), "seq is not a whole number"),
    ]:
        with pytest.raises(IndexFormatError, match=fragment):
            RepositoryIndex.parse(broken)
