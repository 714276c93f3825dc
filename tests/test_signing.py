"""Signed bundles: `keygen`, `bundle --sign`, and `verify` / `install` / `publish` that take
only bundles a trusted key signed, checked before any file of the archive is written or
parsed. Keys from OpenSSH's own `ssh-keygen` work as they are."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from artifactory import Repository
from conftest import run_cli
from test_release import bundle, rewrite

pytestmark = pytest.mark.slow
DAG_FILE = "l0_to_l1_vbi_2.0.0.py"


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """The release key (processing-core keygen) and an attacker's (ssh-keygen)."""
    folder = tmp_path_factory.mktemp("keys")
    made = run_cli("keygen", str(folder / "release"), "--comment", "vbi-team")
    assert made.returncode == 0, made.stderr
    attacker = folder / "attacker"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(attacker)],
                   check=True)  # fmt: skip
    return {"release": folder / "release", "attacker": attacker}


@pytest.fixture(scope="module")
def signed(tmp_path_factory, keys) -> Path:
    out = tmp_path_factory.mktemp("signed")
    made = run_cli("bundle", "workflows", "--version", "2.0.0", "--out", str(out),
                   "--sign", str(keys["release"]))  # fmt: skip
    assert made.returncode == 0, made.stderr
    return Path(made.stdout.strip())


def trusting(keys, who: str = "release") -> dict[str, str]:
    return {"BUNDLE_TRUSTED_KEYS": str(keys[who]) + ".pub"}


def test_keygen_writes_a_private_key_for_its_owner_and_a_public_line_ssh_keygen_reads(
    tmp_path, keys
):
    assert keys["release"].stat().st_mode & 0o777 == 0o600
    line = (keys["release"].parent / "release.pub").read_text().strip()
    assert line.startswith("ssh-ed25519 AAAA") and line.endswith(" vbi-team")
    listed = subprocess.run(["ssh-keygen", "-l", "-f", f"{keys['release']}.pub"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    fingerprint = listed.stdout.split()[1]
    again = run_cli("keygen", str(keys["release"]))
    assert again.returncode == 1 and "keygen never overwrites a key" in again.stderr
    made = run_cli("keygen", str(tmp_path / "k"))
    assert f"({fingerprint_of(tmp_path / 'k.pub')})" in made.stdout
    assert fingerprint.startswith("SHA256:")


def fingerprint_of(public: Path) -> str:
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(public)], capture_output=True,
                            text=True, check=True)  # fmt: skip
    return listed.stdout.split()[1]


def test_a_signed_bundle_is_reproducible_and_verifies_against_its_key(tmp_path, keys, signed):
    again = run_cli("bundle", "workflows", "--version", "2.0.0", "--out", str(tmp_path),
                    "--sign", str(keys["release"]))  # fmt: skip
    assert Path(again.stdout.strip()).read_bytes() == signed.read_bytes()  # Ed25519: deterministic
    with zipfile.ZipFile(signed) as archive:
        signature = json.loads(archive.read("signature.json"))
    assert signature["key"] == fingerprint_of(Path(f"{keys['release']}.pub"))
    shown = run_cli("verify", str(signed), **trusting(keys))
    assert shown.returncode == 0, shown.stderr
    assert f"signed by {signature['key']} (trusted)" in shown.stdout
    # The key given on the command line instead (the line itself, not the file).
    line = Path(f"{keys['release']}.pub").read_text().strip()
    assert run_cli("verify", str(signed), "--trusted-key", line).returncode == 0
    assert "unsigned" in run_cli("verify", str(bundle(tmp_path / "plain"))).stdout


def tampered(signed: Path, folder: Path, marker: Path) -> Path:
    """The signed bundle with its DAG file changed to leave `marker` when parsed, and the
    manifest's checksum updated to match: what whoever can write to the repository can do."""
    copy = folder / signed.name
    folder.mkdir(exist_ok=True)
    shutil.copy(signed, copy)

    def change(entries: dict[str, bytes]) -> None:
        code = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n".encode()
        entries[DAG_FILE] = code + entries[DAG_FILE]
        manifest = json.loads(entries["manifest.json"])
        for workflow in manifest["workflows"]:
            if workflow["file"] == DAG_FILE:
                workflow["sha256"] = hashlib.sha256(entries[DAG_FILE]).hexdigest()
        entries["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"

    rewrite(copy, change)
    return copy


def test_verify_refuses_a_changed_bundle_before_running_any_of_it(tmp_path, keys, signed):
    marker = tmp_path / "marker"
    changed = tampered(signed, tmp_path / "changed", marker)
    refused = run_cli("verify", str(changed), **trusting(keys))
    assert refused.returncode == 1
    assert "does not match the manifest: the bundle was changed after it was signed" in (
        refused.stderr
    )
    assert not marker.exists()  # nothing of it was parsed
    # Without trusted keys the checksums match and Airflow parses it: what signing is for.
    unguarded = run_cli("verify", str(changed))
    assert unguarded.returncode == 0 and marker.exists()


@pytest.mark.parametrize("attack", ["unsigned", "attacker's key", "another bundle's signature"])
def test_what_a_repository_writer_can_make_is_refused(tmp_path, keys, signed, attack):
    marker = tmp_path / "marker"
    changed = tampered(signed, tmp_path / "changed", marker)
    if attack == "unsigned":
        rewrite(changed, lambda entries: entries.pop("signature.json"))
        expected = "the bundle is unsigned, and only bundles signed by a trusted key are accepted"
    elif attack == "attacker's key":
        made = run_cli("bundle", "workflows", "--version", "2.0.0", "--out",
                       str(tmp_path / "evil"), "--sign", str(keys["attacker"]))  # fmt: skip
        assert made.returncode == 0, made.stderr
        changed = Path(made.stdout.strip())
        expected = "which is not a trusted key"
    else:
        other = run_cli("bundle", "workflows", "--version", "2.1.0", "--out",
                        str(tmp_path / "other"), "--sign", str(keys["release"]))  # fmt: skip
        with zipfile.ZipFile(other.stdout.strip()) as archive:
            replayed = archive.read("signature.json")
        rewrite(changed, lambda entries: entries.__setitem__("signature.json", replayed))
        expected = "does not match the manifest"
    for command in (("verify", str(changed)),
                    ("install", str(changed), "--dags-folder", str(tmp_path / "dags"))):  # fmt: skip
        refused = run_cli(*command, **trusting(keys))
        assert refused.returncode == 1, refused.stdout
        assert expected in refused.stderr and "Traceback" not in refused.stderr
    assert not marker.exists()
    installed = (tmp_path / "dags").iterdir() if (tmp_path / "dags").exists() else []
    assert [p.name for p in installed if p.name != ".processing-core.lock"] == []


def test_install_and_publish_take_only_signed_bundles_when_keys_are_trusted(tmp_path, keys, signed):
    plain = bundle(tmp_path / "plain")
    dags = tmp_path / "dags"
    installed = run_cli("install", str(signed), "--dags-folder", str(dags), **trusting(keys))
    assert installed.returncode == 0, installed.stderr
    assert (dags / "workflows-2.0.0" / DAG_FILE).is_file()
    repository = Repository("publish-token")
    try:
        refused = run_cli("publish", str(plain), "--url", repository.url,
                          ARTIFACTORY_TOKEN="publish-token", **trusting(keys))  # fmt: skip
        assert refused.returncode == 1 and "the bundle is unsigned" in refused.stderr
        assert repository.files == {}
        done = run_cli("publish", str(signed), "--url", repository.url,
                       ARTIFACTORY_TOKEN="publish-token", **trusting(keys))  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        repository.close()


def test_an_encrypted_ssh_keygen_key_signs_with_its_passphrase_which_never_shows(tmp_path):
    key = tmp_path / "ci-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass-phrase-42", "-f", str(key)],
                   check=True)  # fmt: skip
    out = tmp_path / "out"
    wrong = run_cli("bundle", "workflows", "--version", "2.0.0", "--out", str(out),
                    "--sign", str(key), BUNDLE_SIGNING_KEY_PASSPHRASE="not-the-pass-phrase")  # fmt: skip
    assert wrong.returncode == 1 and "wrong BUNDLE_SIGNING_KEY_PASSPHRASE" in wrong.stderr
    assert "not-the-pass-phrase" not in wrong.stderr + wrong.stdout
    missing = run_cli("bundle", "workflows", "--version", "2.0.0", "--out", str(out),
                      "--sign", str(key))  # fmt: skip
    assert "the key is encrypted and BUNDLE_SIGNING_KEY_PASSPHRASE is not set" in missing.stderr
    assert not out.exists() or not any(out.iterdir())  # nothing half-made
    made = run_cli("bundle", "workflows", "--version", "2.0.0", "--out", str(out),
                   "--sign", str(key), BUNDLE_SIGNING_KEY_PASSPHRASE="pass-phrase-42")  # fmt: skip
    assert made.returncode == 0, made.stderr
    shown = run_cli("verify", made.stdout.strip(), "--trusted-key", f"{key}.pub")
    assert shown.returncode == 0 and "(trusted)" in shown.stdout


def rsa_key(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(path)],
                   check=True)  # fmt: skip


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (rsa_key, "bundles are signed with Ed25519"),
        (lambda k: k.write_text("not a key"), "not a private key this machine can read"),
        (lambda k: None, "cannot read the key"),
    ],
)
def test_a_key_that_cannot_sign_is_named_with_the_fix(tmp_path, make, message):
    """An RSA key, a file that is no key, no file at all."""
    key = tmp_path / "key"
    make(key)
    made = run_cli("bundle", "workflows", "--version", "2.0.0", "--out", str(tmp_path / "o"),
                   "--sign", str(key))  # fmt: skip
    assert made.returncode == 1 and message in made.stderr and "Traceback" not in made.stderr


@pytest.mark.parametrize(
    ("trusted", "message"),
    [
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "bundles are signed with Ed25519 keys"),
        ("ssh-ed25519 AAAA-not-base64", "is not a readable public key"),
        ("/no/such/keys.pub", "is neither an `ssh-ed25519 AAAA...` public key nor a readable"),
    ],
)
def test_a_trusted_key_that_cannot_be_read_is_named(tmp_path, signed, trusted, message):
    refused = run_cli("verify", str(signed), BUNDLE_TRUSTED_KEYS=trusted)
    assert refused.returncode == 1 and message in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_private_key_given_as_trusted_is_refused(tmp_path, keys, signed):
    refused = run_cli("verify", str(signed), "--trusted-key", str(keys["release"]))
    assert refused.returncode == 1
    assert "holds a private key; trust the public key (the `.pub` file) instead" in refused.stderr
