"""The repository's own build steps, run as CI runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from artifactory import Repository
from conftest import REPO_ROOT, subprocess_env

TOKEN = "release-token-42"


def test_release_script_bundles_verifies_and_publishes(tmp_path):
    repository = Repository(TOKEN)
    try:
        env = subprocess_env(
            PROCESSING_CORE=str(Path(sys.executable).parent / "processing-core"),
            ARTIFACTORY_TOKEN=TOKEN,
        )
        completed = subprocess.run(
            ["bash", "build_utils/release_dags.sh", "5.0.0", repository.url, str(tmp_path)],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        repository.close()
    assert completed.returncode == 0, completed.stderr
    assert "/artifactory/dags-local/workflows-dags-5.0.0.zip" in repository.files
    assert TOKEN not in completed.stdout + completed.stderr


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", message)


def check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO_ROOT / "build_utils" / "check_changelog.sh"), "main"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip


def test_changelog_check_wants_a_fragment_for_every_change_to_src(tmp_path):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "changelog").mkdir()
    (repo / "src" / "a.py").write_text("x = 1\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "base")
    git(repo, "checkout", "-qb", "change")
    (repo / "README.md").write_text("docs only\n")
    commit_all(repo, "docs")
    assert check(repo).returncode == 0
    (repo / "src" / "a.py").write_text("x = 2\n")
    commit_all(repo, "code")
    refused = check(repo)
    assert refused.returncode == 1 and "no towncrier fragment" in refused.stderr
    (repo / "changelog" / "7.chore.md").write_text("not a type\n")
    commit_all(repo, "wrong type")
    assert check(repo).returncode == 1
    (repo / "changelog" / "7.bugfix.md").write_text("Fixed x.\n")
    commit_all(repo, "fragment")
    accepted = check(repo)
    assert accepted.returncode == 0, accepted.stderr
    assert "changelog/7.bugfix.md" in accepted.stdout
