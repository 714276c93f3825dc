"""Install safety costs: refusing a zip bomb, and replacing an installed version in one swap,
each beside installing the same sound bundle into an empty DAGs folder.

The tests prove what these do (tests/test_install_hardening.py: the bomb is refused before a
byte of it is written, a reader never sees a DAG file missing during 30 swaps); how long they
take is measured here. The reference is a plain first install of the example's bundle (its
checks, unpacking, permissions, one rename). The bomb is that bundle plus a member of 1 GiB of
zeros (about 1 MB compressed): refused from the archive's headers, its ratio stays near 1 and
does not grow with the bomb. The swap is a forced reinstall of the bundle with one file
changed (`install --force`). Interleaved, repeated; medians.

    python benchmarks/bench_install_safety.py [--repeat 7] [--bomb-mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from processing_core.release.archive import BundleError, BundleLimits
from processing_core.release.install import install_bundle


def example_entries(work: Path) -> dict[str, bytes]:
    """The entries of the example's bundle (`processing-core bundle workflows`)."""
    cli = shutil.which("processing-core", path=str(Path(sys.executable).parent))
    command = [cli or "processing-core", "bundle", "workflows", "--version", "2.0.0"]
    subprocess.run([*command, "--out", str(work)], check=True, cwd=REPO_ROOT, capture_output=True)
    (archive,) = work.glob("*.zip")
    with zipfile.ZipFile(archive) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


def write_archive(path: Path, entries: dict[str, bytes], bomb_mib: int = 0) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if bomb_mib:
            with archive.open("bomb.bin", "w", force_zip64=True) as member:
                chunk = bytes(1 << 20)
                for _ in range(bomb_mib):
                    member.write(chunk)
    return path


def changed(entries: dict[str, bytes]) -> dict[str, bytes]:
    """The entries with the first DAG file changed, and its checksum in the manifest."""
    manifest = json.loads(entries["manifest.json"])
    workflow = manifest["workflows"][0]
    data = entries[workflow["file"]] + b"\n# rebuilt\n"
    workflow["sha256"] = hashlib.sha256(data).hexdigest()
    return {**entries, workflow["file"]: data, "manifest.json": json.dumps(manifest).encode()}


def timed(action: Callable[..., object], *args: object, **kwargs: object) -> float:
    start = time.perf_counter()
    action(*args, **kwargs)
    return time.perf_counter() - start


def refuse(archive: Path, dags: Path) -> None:
    try:
        install_bundle(archive, dags)
    except BundleError as error:
        assert any("unpacks to" in problem for problem in error.problems), error.problems
    else:
        raise AssertionError("the bomb was installed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--bomb-mib", type=int, default=1024, help="the bomb's unpacked size")
    args = parser.parse_args()
    if args.bomb_mib <= BundleLimits().max_file_bytes >> 20:
        parser.error(
            f"--bomb-mib must exceed a DAG file's limit, {BundleLimits().max_file_bytes >> 20}"
        )
    with tempfile.TemporaryDirectory(prefix="bench-install-safety-") as folder:
        work = Path(folder)
        (work / "bundle").mkdir()
        entries = example_entries(work / "bundle")
        sound = write_archive(work / "sound.zip", entries)
        other = write_archive(work / "other.zip", changed(entries))
        bomb = write_archive(work / "bomb.zip", entries, args.bomb_mib)
        first, refused, swapped = "first install", "zip bomb refused", "swap (--force)"
        timings: dict[str, list[float]] = {first: [], refused: [], swapped: []}
        for round_number in range(args.repeat):  # interleaved
            dags = work / f"dags-{round_number}"
            timings[refused].append(timed(refuse, bomb, dags))
            timings[first].append(timed(install_bundle, sound, dags))
            timings[swapped].append(timed(install_bundle, other, dags, force=True))
        medians = {label: statistics.median(values) for label, values in timings.items()}
        size = bomb.stat().st_size
    print(f"example bundle ({len(entries)} entries); bomb: {args.bomb_mib} MiB of zeros, "
          f"{size:,} bytes compressed; median of {args.repeat} rounds:")  # fmt: skip
    for label, value in medians.items():
        print(f"  {label:<18} {value * 1000:8.1f} ms")
    print(f"  ratio {refused} / {first}: {medians[refused] / medians[first]:.2f} "
          "(read from the headers; goal <= 1, whatever the bomb's size)")  # fmt: skip
    print(f"  ratio {swapped} / {first}: {medians[swapped] / medians[first]:.2f} "
          "(unpack beside, then one exchange; goal close to 1)")  # fmt: skip


if __name__ == "__main__":
    main()
