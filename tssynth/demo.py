"""The main job on bundled data: fit a TVAE on Adult, sample it, summarise fidelity, write a CSV.

Run with ``tssynth demo`` or ``python -m tssynth.demo`` (``make demo`` does). Bad options
and an existing output file (without ``--force``) are refused before training.
"""

from __future__ import annotations

import argparse
import sys
import time

from tssynth import TVAESynthesizer
from tssynth.datasets import load_adult
from tssynth.metrics import fidelity_report
from tssynth.serialization import check_save_path, write_atomic


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    """Run the demo with command-line options ``argv`` (default ``sys.argv[1:]``).

    Raises
    ------
    FileExistsError
        When the output file exists and ``--force`` is not given.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=_positive, default=30, help="training epochs (default 30)")
    parser.add_argument(
        "--rows", type=_positive, default=None, help="synthetic rows (default: as many as real)"
    )
    parser.add_argument("--output", default="adult_synthetic.csv", help="where to write the CSV")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if not args.output.lower().endswith(".csv"):
        parser.error(f"--output {args.output!r}: the demo writes plain CSV; name a .csv file.")
    output = check_save_path(args.output, "the synthetic CSV")
    if output.exists() and not args.force:
        raise FileExistsError(f"{str(output)!r} exists; pass --force to overwrite it.")

    real = load_adult()
    print(f"Adult: {real.shape[0]:,} rows, {real.shape[1]} columns (bundled with tssynth)")
    synthesizer = TVAESynthesizer(epochs=args.epochs, random_state=args.seed, verbose=True)
    start = time.perf_counter()
    synthesizer.fit(real)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = synthesizer.sample(args.rows or len(real))
    sample_seconds = time.perf_counter() - start
    print(
        f"fit: {fit_seconds:.1f} s for {args.epochs} epochs; sample: {sample_seconds:.2f} s "
        f"for {len(synthetic):,} rows"
    )

    report = fidelity_report(real, synthetic)
    print("\nFidelity (1 = identical distributions)")
    print(f"  column shapes      {report.column_shapes:.3f}")
    print(f"  column pair trends {report.column_pair_trends:.3f}")
    print(f"  overall            {report.overall:.3f}")
    for row in report.per_dependency.itertuples(index=False):  # education -> education-num
        pair = f"{row.determinant} -> {row.dependant}"
        print(f"  rows keeping {pair} as real rows do: {row.kept:.3f}")
    print("\nWorst columns:")
    worst = report.per_column.sort_values("score").head(3)
    for _, row in worst.iterrows():
        print(f"  {row['column']:<16} {row['metric']:<15} {row['score']:.3f}")

    write_atomic(output, synthetic.to_csv(index=False).encode("utf-8"), "the synthetic CSV")
    print(f"\nSynthetic data written to {output.resolve()}")


if __name__ == "__main__":
    from tssynth.cli import main as cli_main

    sys.exit(cli_main(["demo", *sys.argv[1:]]))
