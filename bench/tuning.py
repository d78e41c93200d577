"""Tuning runs: the default detector on a tuning set, whole series and the morning view, errors listed.

    python -m bench.tuning tune3 [--set t_threshold=4.2 ...] [--errors] [--retractions] [--whole-only]
                                 [--save NAME] [--against NAME]
    python -m bench.tuning tune4 --series tune4-0022 [--between 2025-11-01 2025-12-01] [--set ...]

Sets (300 series each unless --n): bench/generate.py's TUNING_SEEDS, "tune" to "tune7", and its
CHECK_SEEDS, "check": a set held out from tuning, where a change chosen on the four is run once before
the report split is. The report seed is not offered: nothing is tuned on it. `--set` overrides a
`ScanConfig` field for this run. Prints F1 on the whole series (strict and gap-aware), the morning view's found share / median
delay / retracted share, and with `--errors` every missed change and unmatched alert, with
`--retractions` every retracted alert. `--save NAME` keeps this run's per-series counts in
bench/out/tuning-NAME.json; `--against NAME` lists the series whose counts differ from that run's (same
set) and the paired change in F1 and retracted share with a 90 % bootstrap interval over series: most
experiments move a handful of series, and a change of two retractions in 380 is often noise.
Takes ~5 min for 300 series on 2 cores (the morning view runs in 2 processes). `--series SID` prints
one series' true changes and its alerts on every morning cut instead (between two dates, if given):
how an alert moved or vanished from one morning to the next.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench import generate as gen
from bench.methods import iter_series, run_inproc
from bench.morning import morning_cuts, run_morning
from bench.score import (
    COUNT_COLUMNS,
    bootstrap_weights,
    ceiling_alerts,
    f1_samples,
    interval,
    match_series,
    ratio_samples,
    score_counts,
    score_generated,
    series_counts,
)
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
    seeds = {**gen.TUNING_SEEDS, **gen.CHECK_SEEDS}
    ap.add_argument("set", choices=sorted(seeds))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--errors", action="store_true", help="list missed changes and unmatched alerts")
    ap.add_argument("--retractions", action="store_true", help="list the morning view's retracted alerts")
    ap.add_argument("--whole-only", action="store_true", help="skip the morning view")
    ap.add_argument("--save", metavar="NAME", help="keep per-series counts in bench/out/tuning-NAME.json")
    ap.add_argument("--against", metavar="NAME", help="compare per-series counts with a saved run")
    ap.add_argument("--series", metavar="SID", help="one series' alerts on every morning cut, nothing else")
    ap.add_argument("--between", nargs=2, metavar=("FROM", "TO"), help="with --series: only these cuts")
    args = ap.parse_args(argv)
    cfg = config_from(args.overrides)
    fn = functools.partial(_detect, cfg)
    generated = gen.generate(seeds[args.set], args.n, prefix=f"{args.set}-")
    if args.series:
        found = [s for s in generated if s.series_id == args.series]
        if not found:
            raise SystemExit(f"--series {args.series}: not in {args.set} (ids {args.set}-0000 .. {args.set}-{args.n - 1:04d})")
        print_series_mornings(found[0], cfg, *(args.between or (None, None)))
        return
    pts, truth, meta = gen.to_frames(generated)
    series = list(iter_series(pts))

    alerts, info = run_inproc(fn, series)
    (counts, tr), (counts_gap, tr_gap) = (series_counts(truth, alerts, meta, gap_aware=ga) for ga in (False, True))
    sc, gap = score_counts(counts, tr, meta), score_counts(counts_gap, tr_gap, meta)
    ceiling, _ = score_generated(truth, ceiling_alerts(truth), meta)
    print(f"{args.set} {args.overrides or 'defaults'}: F1 {sc.f1:.3f} (P {sc.precision:.3f}, R {sc.recall:.3f}; "
          f"steps {sc.recall_step:.3f}, ramps {sc.recall_ramp:.3f}; ceiling {ceiling.f1:.3f}), gap-aware {gap.f1:.3f}, "
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
    run = {"set": args.set, "n": args.n, "overrides": args.overrides,
           "whole": {sid: [int(v) for v in row] for sid, row in zip(counts.index, counts.to_numpy(), strict=True)}}
    if not args.whole_only:
        m = run_morning(fn, series, truth, meta, processes=2, list_retracted=args.retractions, per_series=True)
        run["morning"] = m["per_series"]
        _print_morning(m)
    if args.save:
        _saved(args.save).write_text(json.dumps(run) + "\n")
    if args.against:
        compare(json.loads(_saved(args.against).read_text()), run)


def series_mornings(s: gen.GenSeries, cfg: ScanConfig, since=None, until=None) -> list[tuple[pd.Timestamp, int, pd.DataFrame]]:
    """(cut time, points before it, alerts) for each morning cut of one generated series, between
    `since` and `until` (inclusive, any date pandas reads): what each day's partition reports."""
    lo = pd.Timestamp(since) if since is not None else pd.Timestamp.min
    hi = pd.Timestamp(until) if until is not None else pd.Timestamp.max
    out = []
    for ct in morning_cuts(s.first_day, s.n_days):
        if not lo <= pd.Timestamp(ct) <= hi:
            continue
        k = int(np.searchsorted(s.timestamps, ct, side="left"))
        out.append((pd.Timestamp(ct), k, detect_changes(s.timestamps[:k], s.values[:k], s.lower_is_better, cfg)))
    return out


def print_series_mornings(s: gen.GenSeries, cfg: ScanConfig, since=None, until=None) -> None:
    """`--series`: the series' true changes, then one line of alerts per morning cut."""
    print(f"{s.series_id}: {s.noise} noise {s.noise_sd_pct:.2f} %, {s.runs_per_day:.1f} runs a day, "
          f"{'lower' if s.lower_is_better else 'higher'} is better")
    for c in s.changes:
        print(f"  true {c['kind']} {pd.Timestamp(c['start']):%Y-%m-%d %H:%M} .. {pd.Timestamp(c['end']):%Y-%m-%d %H:%M} "
              f"{c['magnitude_pct']:+.1f}% {c['direction']}")
    for ct, k, alerts in series_mornings(s, cfg, since, until):
        rows = " | ".join(f"{pd.Timestamp(a.timestamp):%Y-%m-%d %H:%M} {a.direction} {a.magnitude_pct:+.1f}% "
                          f"P {a.probability:.2f} t {a.t_value:.1f}" for a in alerts.itertuples())
        print(f"  cut {ct:%Y-%m-%d} ({k} points): {rows or '-'}")


def _saved(name: str) -> Path:
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    return out / f"tuning-{name}.json"


def compare(base: dict, run: dict) -> None:
    """Print the series whose counts differ between two runs on one set, and the paired totals."""
    if (base["set"], base["n"]) != (run["set"], run["n"]):
        raise SystemExit(f"--against: that run is on {base['set']} ({base['n']} series), this one on {run['set']}")
    ids = list(run["whole"])
    for sid in ids:
        a, b = base["whole"][sid], run["whole"][sid]
        if a != b:
            print(f"  {sid} whole: found {a[1]} -> {b[1]} of {b[0]}, alerts {a[2]} -> {b[2]} ({a[3]} -> {b[3]} true)")
        if "morning" in base and "morning" in run and base["morning"][sid] != run["morning"][sid]:
            ma, mb = base["morning"][sid], run["morning"][sid]
            print(f"  {sid} morning: found {ma['found']} -> {mb['found']} of {mb['changes']}, "
                  f"retracted {ma['retracted']} of {ma['new']} -> {mb['retracted']} of {mb['new']}")
    w = bootstrap_weights(len(ids))
    base_c, run_c = (pd.DataFrame([r["whole"][sid] for sid in ids], columns=COUNT_COLUMNS) for r in (base, run))
    once = np.ones((1, len(ids)), int)
    d0 = float(f1_samples(run_c, once)[0] - f1_samples(base_c, once)[0])
    d_f1 = f1_samples(run_c, w) - f1_samples(base_c, w)
    lo, hi = interval(d_f1)
    print(f"paired change: F1 {d0:+.4f} (90 % interval {lo:+.4f} .. {hi:+.4f})", end="")
    if "morning" in base and "morning" in run:
        def change(num, den, weights):  # the run's share minus the base's, per resample
            return np.subtract(*(ratio_samples([r["morning"][s][num] for s in ids],
                                               [r["morning"][s][den] for s in ids], weights) for r in (run, base)))

        for label, num, den in (("found", "found", "changes"), ("retracted", "retracted", "new")):
            lo, hi = interval(change(num, den, w))
            print(f"; morning {label} {change(num, den, once)[0]:+.4f} ({lo:+.4f} .. {hi:+.4f})", end="")
    print()


def _print_morning(m: dict) -> None:
    print(f"morning: found {m['found_share']:.3f} ({m['found']} of {m['changes']}; gap-aware "
          f"{m['found_share_gap_aware']:.3f}; ceiling {m['found_share_ceiling']:.3f}), median delay {m['median_delay_days']:.2f} d "
          f"(p90 {m['p90_delay_days']:.1f}), retracted {m['retracted']} of {m['new_alerts']} "
          f"({m['retracted_share']:.1%}; 90 % interval {m['ci90']['retracted_share'][0]:.1%} .. "
          f"{m['ci90']['retracted_share'][1]:.1%}), moved or retracted {m['moved_or_retracted']} of {m['new_alerts_1d']}")
    for sid, cut, t, d in m.get("retracted_alerts", []):
        print(f"  retracted {sid} cut {pd.Timestamp(cut):%Y-%m-%d} alert {pd.Timestamp(t):%Y-%m-%d %H:%M} {d}")


if __name__ == "__main__":
    main()
