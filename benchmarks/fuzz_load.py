"""A long run of the skae.load fuzzer: ``python -m benchmarks.fuzz_load --examples N``.

Runs tests/test_load_fuzz.py (real files of every estimator, mutated; each
load returns a model or raises ValueError/TypeError, imports nothing, and a
returned model's methods import nothing) for N examples instead of the
short pass ``make test`` runs, and prints the count and the time it took.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000,
                        help="mutated files to try (default 5000)")
    args = parser.parse_args(argv)
    env = dict(os.environ, SKAE_FUZZ_EXAMPLES=str(args.examples), SCIPY_ARRAY_API="1")
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_load_fuzz.py")], cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    outcome = "passed" if result.returncode == 0 else "FAILED"
    print(f"skae.load fuzzer: {args.examples} mutated files, {outcome}, {seconds:.0f} s")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
