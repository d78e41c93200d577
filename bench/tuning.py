"""Tuning runs: the default detector on a tuning set, whole series and the morning view, errors listed.

    python -m bench.tuning tune3 [--set t_threshold=4.2 ...] [--errors] [--retractions] [--whole-only]

Sets (300 series each unless --n): bench/generate.py's TUNING_SEEDS, "tune", "tune2" and "tune3"; the
report seed is not offered: nothing is tuned on it. `--set` overrides a `ScanConfig` field for this
run. Prints F1 on the whole series (strict and gap-aware), the morning view's found share / median
delay / retracted share, and with `--errors` every missed change and unmatched alert, with
`--retractions` every retracted alert.
Takes ~5 min for 300 series on 2 cores (the morning view runs in 2 processes).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools

import pandas as pd

from bench import generate as gen
from bench.methods import iter_series, run_inproc
from bench.morning import run_morning
from bench.score import match_series, score_generated
from regression_assets.stats.changepoint import ScanConfig, detect_changes


def config_from(pairs: list[str]) -> ScanConfig:
    """A ScanConfig with `field=value` overrides, each value cast to the field's type."""
    fields = {f.name: f for f in dataclasses.fields(ScanConfig)}
    kw = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in fields:
            raise SystemExit(f"--set {pair}: ScanConfig has no field {name!r}")
        kind = type(fields[name].default)
        kw[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return ScanConfig(**kw)


def _detect(cfg: ScanConfig, timestamps, values, lower_is_better) -> pd.DataFrame:
    return detect_changes(timestamps, values, lower_is_better, cfg)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set", choices=sorted(gen.TUNING_SEEDS))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--errors", action="store_true", help="list missed changes and unmatched alerts")
    ap.add_argument("--retractions", action="store_true", help="list the morning view's retracted alerts")
    ap.add_argument("--whole-only", action="store_true", help="skip the morning view")
    args = ap.parse_args(argv)
    cfg = config_from(args.overrides)
    fn = functools.partial(_detect, cfg)
    pts, truth, meta = gen.to_frames(gen.generate(gen.TUNING_SEEDS[args.set], args.n, prefix=f"{args.set}-"))
    series = list(iter_series(pts))

    alerts, info = run_inproc(fn, series)
    sc, tr = score_generated(truth, alerts, meta)
    gap, _ = score_generated(truth, alerts, meta, gap_aware=True)
    print(f"{args.set} {args.overrides or 'defaults'}: F1 {sc.f1:.3f} (P {sc.precision:.3f}, R {sc.recall:.3f}; "
          f"steps {sc.recall_step:.3f}, ramps {sc.recall_ramp:.3f}), gap-aware {gap.f1:.3f}, "
          f"{sc.false_alerts_quiet} alerts on quiet series, {sc.n_alerts} alerts, {info['errors']} series failed", flush=True)
    if args.errors:
        for r in tr[~tr["found"]].itertuples():
            print(f"  missed {r.series_id} {r.start:%Y-%m-%d} {r.kind} {r.magnitude_pct:+.1f}% {r.direction}")
        for sid, ag in alerts.groupby("series_id"):
            ag = ag.reset_index(drop=True)
            matched = set(match_series(truth[truth["series_id"] == sid], ag)[0]) - {None}
            for j, a in ag.iterrows():
                if j not in matched:
                    print(f"  unmatched {sid} {a.timestamp:%Y-%m-%d %H:%M} {a.direction} "
                          f"{a.magnitude_pct:+.1f}% P {a.probability:.3f}")
    if args.whole_only:
        return
    m = run_morning(fn, series, truth, meta, processes=2, list_retracted=args.retractions)
    print(f"morning: found {m['found_share']:.3f} ({m['found']} of {m['changes']}; gap-aware "
          f"{m['found_share_gap_aware']:.3f}), median delay {m['median_delay_days']:.2f} d "
          f"(p90 {m['p90_delay_days']:.1f}), retracted {m['retracted']} of {m['new_alerts']} "
          f"({m['retracted_share']:.1%}), moved or retracted {m['moved_or_retracted']} of {m['new_alerts_1d']}")
    for sid, cut, t, d in m.get("retracted_alerts", []):
        print(f"  retracted {sid} cut {pd.Timestamp(cut):%Y-%m-%d} alert {pd.Timestamp(t):%Y-%m-%d %H:%M} {d}")


if __name__ == "__main__":
    main()
