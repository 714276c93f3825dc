"""Install size: the base install (the pipeline image's view) beside the [airflow] extra.

Builds this checkout's wheel once, installs it into two fresh virtualenvs (no extras, and
`[airflow]`), and prints each one's package count and site-packages size, and the ratio.
Goal for the base install: at most 80 MB.

    python benchmarks/bench_install.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def install(wheel: Path, extras: str, root: Path) -> tuple[int, int]:
    """(packages, bytes of site-packages) of a fresh virtualenv with `wheel[extras]`."""
    venv = root / (extras or "base")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    requirement = f"{wheel}[{extras}]" if extras else str(wheel)
    subprocess.run([python, "-m", "pip", "install", "--quiet", requirement], check=True)
    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    # pip and setuptools come with every virtualenv: not part of what we install.
    packages = [p for p in json.loads(listed) if p["name"] not in ("pip", "setuptools")]
    (site,) = (venv / "lib").glob("python3*/site-packages")
    size = sum(f.stat().st_size for f in site.rglob("*") if f.is_file() and not f.is_symlink())
    pip_size = sum(f.stat().st_size for d in site.glob("pip*") for f in d.rglob("*") if f.is_file())
    return len(packages), size - pip_size


def main() -> None:
    # No options: --help says what it does without running it.
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-install-") as folder:
        root = Path(folder)
        wheel_dir = root / "wheel"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--wheel-dir", str(wheel_dir), str(REPO_ROOT)], check=True)  # fmt: skip
        (wheel,) = wheel_dir.glob("*.whl")
        base = install(wheel, "", root)
        full = install(wheel, "airflow", root)
    print("Install of processing-core into a fresh virtualenv (pip and setuptools left out):")
    print(
        f"  base (pipeline image)   {base[0]:4d} packages  {base[1] / 1e6:7.1f} MB (goal <= 80 MB)"
    )
    print(f"  [airflow] (deployment)  {full[0]:4d} packages  {full[1] / 1e6:7.1f} MB")
    print(f"  ratio base / [airflow]  {base[0] / full[0]:9.2f}  {base[1] / full[1]:12.2f}")


if __name__ == "__main__":
    main()
