"""Apache Otava (Hunter) over a CLI input CSV, in its own venv: its windowed E-Divisive split + t-test merge
(`otava.analysis.compute_change_points`, the defaults of its `AnalysisOptions`: window_len 50,
max_pvalue 0.001, min_magnitude 0).

usage: run_otava.py IN.csv OUT.csv [--window-len 50] [--max-pvalue 0.001]
Writes OUT.csv in the CLI's output shape and OUT.csv.timing.json (detection seconds inside the process).
"""

import argparse
import os
import sys
import time

T_START = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import run_peer  # noqa: E402
from otava.analysis import compute_change_points  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--window-len", type=int, default=50)
    ap.add_argument("--max-pvalue", type=float, default=0.001)
    args = ap.parse_args()

    def find(ts, vals):
        cps, _weak = compute_change_points(
            [float(v) for v in vals], window_len=args.window_len, max_pvalue=args.max_pvalue
        )
        return [c.index for c in cps]

    run_peer(args.inp, args.out, find, {"window_len": args.window_len, "max_pvalue": args.max_pvalue}, T_START)


if __name__ == "__main__":
    main()
