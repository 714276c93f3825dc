"""Fan-out cost: export and parse of mapped workflows beside the same graphs unmapped.

Each workflow is split -> STEPS parallel steps -> combine; mapped, every step runs once per
element of split's list (one list task per workflow more, and `partial().expand_kwargs()`
in the file). Export is timed here; parse is `DagBag` in a fresh process per set (Airflow and
the provider imported first, as the DAG processor does; bench_parse.measure). Prints both
and the ratios.

    python benchmarks/bench_foreach.py [--files 50] [--steps 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._synthetic import fan_out_workflow
from benchmarks.bench_export import timed_export
from benchmarks.bench_parse import measure


def export_seconds(files: int, steps: int, mapped: bool, out: Path) -> float:
    return timed_export([fan_out_workflow(i, steps, mapped=mapped) for i in range(files)], out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kinds = ("unmapped", "mapped")
    exports: dict[str, list[float]] = {kind: [] for kind in kinds}
    parses: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as root:
        for attempt in range(args.repeat):  # interleaved, so drift affects both alike
            for kind in kinds:
                out = Path(root, f"{kind}-{attempt}")
                exports[kind].append(export_seconds(args.files, args.steps, kind == "mapped", out))
                parses[kind].append(measure(out, args.files)["parse"])
    print(
        f"{args.files} workflows x (split, {args.steps} steps, combine), kubernetes target "
        f"(median of {args.repeat}):"
    )
    for label, timings in (("export", exports), ("DagBag parse", parses)):
        medians = {kind: statistics.median(values) for kind, values in timings.items()}
        for kind in kinds:
            per_file = medians[kind] / args.files * 1000
            print(f"  {label:<12} {kind:<8} {medians[kind]:7.3f} s  ({per_file:6.2f} ms/file)")
        print(
            f"  {label:<12} ratio mapped / unmapped: {medians['mapped'] / medians['unmapped']:.2f}"
        )


if __name__ == "__main__":
    main()
