"""The quickstart, from a fresh clone to a finished run: the README's commands, timed.

Clones this checkout (its committed state) into a scratch folder and follows the README's
quickstart: a virtualenv with `pip install -e ".[spark]"` (the base install and pyspark for
the example's Spark step), the export, the local run. The reference, in the same run, is
the quickstart as it was before (`pip install -e ".[dev]"`, Airflow and the test tools
included), whose install is timed the same way. Prints each step's seconds, the total, and
the ratio of the two installs. Goal: a first export and run within 60 s of the clone (with
pip's cache warm; a cold cache adds the downloads).

    python benchmarks/bench_quickstart.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
INSTALL = 'python3 -m venv .venv && .venv/bin/pip install -q -e "{extras}"'
EXPORT = ".venv/bin/processing-core export workflows --out dags --version 1.0.0"
RUN = ".venv/bin/processing-core run workflows:l0_to_l1_vbi --version 1.0.0 --param data_root=data"


def timed(command: str, cwd: Path) -> float:
    began = time.monotonic()
    subprocess.run(["bash", "-c", command], cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - began


def clone(root: Path, name: str) -> Path:
    target = root / name
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(target)], check=True)
    return target


def main() -> None:
    # No options: --help says what it does without running it.
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-quickstart-") as folder:
        root = Path(folder)
        quick = clone(root, "quickstart")
        install = timed(INSTALL.format(extras=".[spark]"), quick)
        export = timed(EXPORT, quick)
        run = timed(RUN, quick)
        reference = timed(INSTALL.format(extras=".[dev]"), clone(root, "reference"))
    total = install + export + run
    print("The README's quickstart from a fresh clone (pip's cache as this machine has it):")
    print(f"  install .[spark]        {install:7.1f} s")
    print(f"  export                  {export:7.1f} s")
    print(f"  run (6 tasks, Spark)    {run:7.1f} s")
    print(f"  total                   {total:7.1f} s (goal <= 60 s)")
    print(f"  reference: install .[dev] (the earlier quickstart)  {reference:7.1f} s")
    print(f"  ratio install .[spark] / .[dev]                     {install / reference:7.2f}")


if __name__ == "__main__":
    sys.exit(main())
