"""E-Divisive means (MongoDB's signal-processing-algorithms) over a CLI input CSV, in its own venv.

usage: run_edivisive.py IN.csv OUT.csv [--pvalue 0.05] [--permutations 100] [--seed 0]
Writes OUT.csv in the CLI's output shape and OUT.csv.timing.json (detection seconds inside the process).
"""

import argparse
import os
import sys
import time

T_START = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from common import run_peer  # noqa: E402
from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--pvalue", type=float, default=0.05)
    ap.add_argument("--permutations", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    np.random.seed(args.seed)  # its permutation test uses the global numpy RNG

    def find(ts, vals):
        return e_divisive(vals.astype(np.float64), pvalue=args.pvalue, permutations=args.permutations)

    run_peer(args.inp, args.out, find, {"pvalue": args.pvalue, "permutations": args.permutations}, T_START)


if __name__ == "__main__":
    main()
