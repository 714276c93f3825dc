"""The same workflows export to byte-identical files, whatever PYTHONHASHSEED."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli


@pytest.mark.parametrize("target", ["kubernetes", "local"])
def test_export_is_byte_identical_under_different_hash_seeds(tmp_path: Path, target: str):
    outputs = []
    for seed in ("1", "4242", "random"):
        out = tmp_path / f"seed-{seed}"
        result = run_cli(
            "export", "workflows", "--out", str(out), "--version", "3.0.0", "--target", target,
            PYTHONHASHSEED=seed,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert len(outputs[0]) == 2
    assert outputs[0] == outputs[1] == outputs[2]


def test_exporting_twice_into_the_same_folder_changes_nothing(tmp_path: Path):
    first = run_cli("export", "workflows", "--out", str(tmp_path), "--version", "3.0.0")
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    second = run_cli("export", "workflows", "--out", str(tmp_path), "--version", "3.0.0")
    assert second.returncode == 0, second.stderr
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before
    assert len(after) == 2  # no staging folder or partial file left behind
