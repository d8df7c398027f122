"""Time and peak memory of ``tssynth sample`` writing many rows to Parquet.

How to run (from the repository root)::

    .venv/bin/python -m tssynth.cli fit adult.csv --model tvae --epochs 30 -o adult.tssynth
    nice -n 10 .venv/bin/python benchmarks/cli_sample_parquet.py adult.tssynth
    nice -n 10 .venv/bin/python benchmarks/cli_sample_parquet.py adult.tssynth -n 1000000 \\
        --output /tmp/adult_1m.parquet

Protocol
--------
The command ``python -m tssynth.cli sample GENERATOR -n N -o OUTPUT -q --force``
runs in a child process with ``OMP_NUM_THREADS=2`` (and MKL/OpenBLAS likewise);
the wall time is measured around it (interpreter start and imports included) and
the peak memory is the child's ``ru_maxrss`` from ``getrusage(RUSAGE_CHILDREN)``.
The output's row count and row groups are read back from the Parquet metadata.
Targets for 1,000,000 rows of an Adult generator on 2 cores: under 20 s and a
peak under 1 GiB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generator", help="generator file (e.g. a TVAE fitted on Adult)")
    parser.add_argument("-n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("--output", default="/tmp/tssynth_sample_bench.parquet")
    parser.add_argument("--chunk-size", type=int, default=100_000)
    args = parser.parse_args(argv)

    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = "2"
    command = [
        sys.executable,
        "-m",
        "tssynth.cli",
        "sample",
        args.generator,
        "-n",
        str(args.n),
        "-o",
        args.output,
        "--chunk-size",
        str(args.chunk_size),
        "-q",
        "--force",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux

    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(args.output).metadata
    size_mib = Path(args.output).stat().st_size / 2**20
    print(f"command: {' '.join(command)}")
    print(
        f"rows written: {metadata.num_rows:,} in {metadata.num_row_groups} row groups, "
        f"{metadata.num_columns} columns, {size_mib:.1f} MiB"
    )
    print(f"wall time: {seconds:.1f} s (target < 20 s)")
    print(f"peak RSS: {peak_mib:.0f} MiB (target < 1024 MiB)")
    ok = metadata.num_rows == args.n and seconds < 20 and peak_mib < 1024
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
