"""Installing and verifying hostile or broken bundles: nothing is ever written outside the
DAGs folder, only listed files are installed, and `verify` refuses what `install` refuses.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from conftest import VENV_BIN, run_cli, subprocess_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processing_core.release import install as install_module
from processing_core.release.archive import BundleError, BundleLimits, extract_bundle
from processing_core.release.install import InstallError, install_bundle, installed_versions


@pytest.fixture(scope="module")
def sound(tmp_path_factory) -> dict[str, bytes]:
    """The entries of a real bundle of the example, made once."""
    out = tmp_path_factory.mktemp("bundle")
    completed = run_cli("bundle", "workflows", "--version", "2.0.0", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    with zipfile.ZipFile(out / "workflows-dags-2.0.0.zip") as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def make_archive(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def with_manifest(entries: dict[str, bytes], change) -> dict[str, bytes]:
    manifest = json.loads(entries["manifest.json"])
    change(manifest)
    return {**entries, "manifest.json": json.dumps(manifest).encode()}


def with_changed_file(entries: dict[str, bytes], name: str, extra: bytes) -> dict[str, bytes]:
    """The entries with DAG file `name` changed (and its checksum in the manifest with it)."""
    data = entries[name] + extra
    changed = with_manifest(entries, lambda m: [
        w.update(sha256=hashlib.sha256(data).hexdigest()) for w in m["workflows"] if w["file"] == name
    ])  # fmt: skip
    return {**changed, name: data}


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def both_refuse(archive: Path, dags: Path, message: str) -> None:
    installed = run_cli("install", str(archive), "--dags-folder", str(dags))
    verified = run_cli("verify", str(archive))
    for completed in (installed, verified):
        assert completed.returncode == 1, completed.stdout
        assert message in completed.stderr, completed.stderr
        assert "Traceback" not in completed.stderr


def test_a_distribution_name_that_climbs_out_is_refused_and_nothing_outside_changes(
    tmp_path, sound
):
    precious = tmp_path / "x" / "precious"
    precious.mkdir(parents=True)
    (precious / "keep.txt").write_text("mine")
    dags = tmp_path / "airflow" / "dags"
    dags.mkdir(parents=True)
    before = snapshot(tmp_path)
    hostile = with_manifest(
        sound, lambda m: m["distribution"].update(name="/../../x/precious", version="1.0.0")
    )
    archive = make_archive(tmp_path / "hostile.zip", hostile)
    both_refuse(archive, dags, "is not a distribution name")
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k != "hostile.zip"} == before | {
        "airflow/dags/.processing-core.lock": b""
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["distribution"].update(version="../../1"), "is not a PEP 440 version"),
        (
            lambda m: m["workflows"][0].update(file="../../etc/hostname"),
            "must be the DAG's own file",
        ),
        (lambda m: m["workflows"][0].update(dag_id="../x"), "is not a dag_id"),
        (lambda m: m["workflows"][0].update(sha256="zz"), "String should match pattern"),
        (lambda m: m.update(workflows=[]), "at least 1 item"),
        (lambda m: m.update(extra="field"), "Extra inputs are not permitted"),
        (lambda m: m.update(manifest_version=2), "not a processing-core manifest of version 1"),
    ],
)
def test_malformed_manifests_are_refused_by_install_and_verify_alike(
    tmp_path, sound, change, message
):
    archive = make_archive(tmp_path / "bad.zip", with_manifest(sound, change))
    both_refuse(archive, tmp_path / "dags", message)
    assert installed_versions(tmp_path / "dags") == []


def test_files_the_manifest_does_not_list_are_refused_and_never_executed(tmp_path, sound):
    marker = tmp_path / "executed"
    evil = f"open({str(marker)!r}, 'w').write('ran')\n".encode()
    archive = make_archive(tmp_path / "extra.zip", {**sound, "evil.py": evil})
    both_refuse(archive, tmp_path / "dags", "'evil.py': in the archive but not in the manifest")
    assert not marker.exists()  # verify parsed nothing of an archive that failed a static check


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path, sound):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in sound.items():
            target.writestr(name, data)
        with target.open("bomb.bin", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(1024):  # 1 GiB of zeros, about 1 MB compressed
                member.write(chunk)
    assert archive.stat().st_size < 3 << 20
    # Refused from the headers, not by unpacking: no file of theirs may grow past 16 MiB
    # (RLIMIT_FSIZE: a write beyond it fails with EFBIG, and the refusal would not be the one).
    import resource

    def small_files_only() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))

    for command in (["install", str(archive), "--dags-folder", str(tmp_path / "dags")],
                    ["verify", str(archive)]):  # fmt: skip
        completed = subprocess.run(
            [str(VENV_BIN / "processing-core"), *command], env=subprocess_env(TMPDIR=str(tmp_path)),
            capture_output=True, text=True, timeout=300, preexec_fn=small_files_only,
        )  # fmt: skip
        assert completed.returncode == 1, completed.stderr
        assert "unpacks to 1073741824 bytes; the limit is" in completed.stderr
        assert "Traceback" not in completed.stderr


def test_size_limits_are_settable_and_apply_to_dag_files(tmp_path, sound):
    archive = make_archive(tmp_path / "sound.zip", sound)
    completed = run_cli("install", str(archive), "--dags-folder", str(tmp_path / "dags"),
                        BUNDLE_MAX_FILE_BYTES="100")  # fmt: skip
    assert completed.returncode == 1 and "BUNDLE_MAX_FILE_BYTES" in completed.stderr


def test_versions_and_prune_explain_a_missing_folder_and_a_corrupt_manifest(tmp_path, sound):
    missing = run_cli("versions", "--dags-folder", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    dags = tmp_path / "dags"
    install_bundle(make_archive(tmp_path / "sound.zip", sound), dags)
    broken = dags / "hand-made-1.0"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    listed = run_cli("versions", "--dags-folder", str(dags))
    assert listed.returncode == 1 and "workflows 2.0.0" in listed.stdout
    assert "hand-made-1.0: manifest.json is not JSON" in listed.stderr
    pruned = run_cli("prune", "--dags-folder", str(dags), "--keep", "1")
    assert pruned.returncode == 1 and "left untouched" in pruned.stderr
    assert broken.is_dir()
    for completed in (missing, listed, pruned):
        assert "Traceback" not in completed.stderr


def test_stale_staging_from_a_killed_install_is_cleared_by_the_next_one(tmp_path, sound):
    dags = tmp_path / "dags"
    archive = make_archive(tmp_path / "sound.zip", sound)
    install_bundle(archive, dags)
    # What SIGKILL in the middle of install or prune leaves beside the DAGs folder.
    for prefix in (install_module._staging_prefix(dags), install_module._trash_prefix(dags)):
        leftover = tmp_path / f"{prefix}abc123"
        leftover.mkdir()
        (leftover / "l0_to_l1_vbi_2.0.0.py").write_text("# half a version")
    completed = run_cli("install", str(archive), "--dags-folder", str(dags))
    assert completed.returncode == 0, completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dags", "sound.zip"]


def test_an_install_killed_with_sigkill_is_cleared_by_the_next(tmp_path, sound):
    dags = tmp_path / "dags"
    name = "l0_to_l1_vbi_2.0.0.py"
    big = b"# padding\n" * (30 << 20)  # 300 MiB: unpacking takes a while
    entries = with_manifest(
        {**sound, name: big},
        lambda m: [w.update(sha256=hashlib.sha256(big).hexdigest()) for w in m["workflows"]
                   if w["file"] == name],
    )  # fmt: skip
    archive = make_archive(tmp_path / "big.zip", entries)
    limits = {"BUNDLE_MAX_FILE_BYTES": str(1 << 30), "BUNDLE_MAX_TOTAL_BYTES": str(1 << 30)}
    process = subprocess.Popen(
        [str(VENV_BIN / "processing-core"), "install", str(archive), "--dags-folder", str(dags)],
        env=subprocess_env(**limits), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    prefix = install_module._staging_prefix(dags)
    deadline = time.monotonic() + 60
    while not any((p / name).exists() for p in tmp_path.glob(f"{prefix}*")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.kill()
    process.wait(timeout=30)
    assert list(tmp_path.glob(f"{prefix}*"))  # what SIGKILL leaves behind
    assert not (dags / "workflows-2.0.0").exists()
    completed = run_cli("install", str(make_archive(tmp_path / "sound.zip", sound)),
                        "--dags-folder", str(dags))  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert list(tmp_path.glob(f"{prefix}*")) == []


def test_concurrent_installs_and_prunes_take_turns(tmp_path, sound):
    dags = tmp_path / "dags"
    archives = []
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
        entries = with_manifest(sound, lambda m, v=version: m["distribution"].update(version=v))
        archives.append(make_archive(tmp_path / f"{version}.zip", entries))
    install_bundle(archives[0], dags)
    commands = [["install", str(a), "--dags-folder", str(dags)] for a in archives * 2]
    # --force: no Airflow to ask about runs here (tests/test_prune_safety.py asks a real one).
    commands += [["prune", "--dags-folder", str(dags), "--keep", "2", "--force"]] * 6
    processes = [
        subprocess.Popen([str(VENV_BIN / "processing-core"), *c], env=subprocess_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]  # fmt: skip
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    assert [code for code, _ in outcomes] == [0] * len(commands), [e for c, e in outcomes if c]
    final = run_cli("prune", "--dags-folder", str(dags), "--keep", "2", "--force")
    assert final.returncode == 0
    assert [v.version for v in installed_versions(dags)] == ["1.3.0", "1.2.0"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


POLL = """
import os, sys
path, stop = sys.argv[1], sys.argv[2]
seen = missing = 0
print("ready", flush=True)
while not os.path.exists(stop):
    seen += 1
    missing += not os.path.exists(path)
print(seen, missing)
"""


@pytest.mark.parametrize("swap", ["renameat2", "file-by-file"])
def test_a_reinstall_never_shows_a_missing_dag_file(tmp_path, sound, monkeypatch, swap):
    if swap == "file-by-file":

        def unsupported(a, b):
            raise OSError(22, "Invalid argument")

        monkeypatch.setattr(install_module, "_renameat2_exchange", unsupported)
    dags = tmp_path / "dags"
    first = make_archive(tmp_path / "a.zip", sound)
    changed = with_changed_file(sound, "l0_to_l1_vbi_2.0.0.py", b"\n# rebuilt\n")
    second = make_archive(tmp_path / "b.zip", changed)
    install_bundle(first, dags)
    watched = dags / "workflows-2.0.0" / "l0_to_l1_vbi_2.0.0.py"
    stop = tmp_path / "stop"
    # The poller checks the file without pause from before the first swap to after the last.
    poller = subprocess.Popen([sys.executable, "-c", POLL, str(watched), str(stop)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert poller.stdout is not None and poller.stdout.readline() == "ready\n"
    for swap_number in range(30):
        replaced = install_bundle(second if swap_number % 2 == 0 else first, dags, force=True)
        assert replaced.outcome == "replaced"
    stop.touch()
    seen, missing = map(int, poller.communicate(timeout=60)[0].split())
    assert seen > 30  # it looked, many times per swap
    assert missing == 0
    assert [v.version for v in installed_versions(dags)] == ["2.0.0"]


# -- fuzz: whatever the manifest and the member names, nothing lands outside the folder --------
NAMES = st.one_of(
    st.sampled_from(["..", ".", "/", "/etc/x", "../x", "a/../../b", "x\x00y", "a\nb", "ok", "ok.py",
                     "l0_to_l1_vbi_2.0.0.py", "manifest.json", "{{ x }}", "-", "a" * 300]),
    st.text(min_size=0, max_size=40),
)  # fmt: skip
VALUES = st.one_of(NAMES, st.integers(), st.none(), st.lists(NAMES, max_size=3))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    distribution=st.fixed_dictionaries({"name": NAMES, "version": NAMES}),
    workflow=st.fixed_dictionaries(
        {"name": VALUES, "version": VALUES, "dag_id": NAMES, "file": NAMES,
         "sha256": st.sampled_from(["0" * 64, "zz"]), "task_ids": st.lists(NAMES, max_size=2)}
    ),
    members=st.lists(NAMES, max_size=3),
)  # fmt: skip
def test_fuzzed_manifests_never_write_outside_the_dags_folder(
    tmp_path_factory, distribution, workflow, members
):
    root = tmp_path_factory.mktemp("fuzz")
    dags = root / "airflow" / "dags"
    manifest = {"manifest_version": 1, "distribution": distribution, "workflows": [workflow]}
    if isinstance(workflow["file"], str) and workflow["file"]:
        data = b"# a DAG file\n"
        workflow["sha256"] = hashlib.sha256(data).hexdigest()
        members = [*members, workflow["file"]]
    buffer = io.BytesIO()
    # Duplicate member names are part of the hostile input; zipfile warns as it writes them.
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)
        archive.writestr("manifest.json", json.dumps(manifest))
        for name in members:
            # zipfile cuts a name at NUL (as it does reading one); an empty name it cannot write.
            if name.split("\x00")[0]:
                archive.writestr(name, b"# a DAG file\n")
    archive_path = root / "fuzz.zip"
    archive_path.write_bytes(buffer.getvalue())
    try:
        installed = install_bundle(archive_path, dags)
    except (BundleError, InstallError):
        installed = None
    outside = [
        p for p in root.rglob("*") if p != archive_path and dags not in (p, *p.parents)
        and p not in (root / "airflow",)
    ]  # fmt: skip
    assert outside == []
    verify_folder = root / "verify"
    verify_folder.mkdir()
    try:
        extract_bundle(archive_path, verify_folder, BundleLimits())
        verified = True
    except BundleError:
        verified = False
    assert verified == (installed is not None)  # verify refuses exactly what install refuses
    if installed is not None:
        assert installed.folder.parent == dags
        assert sorted(p.name for p in installed.folder.iterdir()) == sorted(
            ["manifest.json", workflow["file"]]
        )


# -- reinstalls and permissions -------------------------------------------------------------------
def test_the_same_version_with_other_files_is_refused_unless_forced(tmp_path, sound):
    dags = tmp_path / "dags"
    first = make_archive(tmp_path / "a.zip", sound)
    assert run_cli("install", str(first), "--dags-folder", str(dags)).returncode == 0
    again = run_cli("install", str(first), "--dags-folder", str(dags))
    assert again.returncode == 0 and again.stdout.startswith("unchanged workflows 2.0.0")
    changed = make_archive(
        tmp_path / "b.zip", with_changed_file(sound, "l0_to_l1_vbi_2.0.0.py", b"# v2\n")
    )
    before = snapshot(dags)
    refused = run_cli("install", str(changed), "--dags-folder", str(dags))
    assert refused.returncode == 1
    assert "workflows 2.0.0 is already installed" in refused.stderr
    assert "l0_to_l1_vbi_2.0.0.py changed" in refused.stderr
    assert "--force" in refused.stderr
    assert snapshot(dags) == before  # nothing replaced
    forced = run_cli("install", str(changed), "--dags-folder", str(dags), "--force")
    assert forced.returncode == 0 and forced.stdout.startswith("replaced workflows 2.0.0")
    assert (dags / "workflows-2.0.0" / "l0_to_l1_vbi_2.0.0.py").read_bytes().endswith(b"# v2\n")


@pytest.mark.parametrize(
    ("dags_mode", "folder_mode", "file_mode"),
    [(0o755, 0o755, 0o644), (0o750, 0o750, 0o640), (0o2775, 0o775, 0o664)],
)
def test_installed_files_take_the_dags_folders_permissions(
    tmp_path, sound, dags_mode, folder_mode, file_mode
):  # fmt: skip
    import os
    import stat

    dags = tmp_path / "dags"
    dags.mkdir()
    dags.chmod(dags_mode)
    old_umask = os.umask(0o077)  # a restrictive umask must not decide what others can read
    try:
        installed = install_bundle(make_archive(tmp_path / "a.zip", sound), dags)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(installed.folder.stat().st_mode) == folder_mode
    for path in installed.folder.rglob("*"):
        expected = folder_mode if path.is_dir() else file_mode
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
