"""`make bench`: every method on every data set; writes bench/results.md and bench/results.json.

python -m bench.harness [--quick] [--n-report 300] [--n-tune 150] [--edivisive-series 60]
                        [--morning-series 300] [--methods default,perfherder,...]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench import generate as gen
from bench.methods import iter_series, load_methods, run_method, write_input_csv
from bench.morning import GATE_FLOOR_SHARE, paired_delays, run_morning
from bench.peers.common import GATE_PCT
from bench.realise import load_realise, load_talos, score_realise, score_talos
from bench.score import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    LEVEL,
    bootstrap_weights,
    ceiling_alerts,
    f1_samples,
    interval,
    score_counts,
    score_generated,
    series_counts,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEN_GRID = [10, 20, 30, 50, 100, 200, 400, 800]
ORDER = ["default", "perfherder", "standin", "binseg", "otava", "edivisive", "nothing"]
# in-process methods only (the venv peers would start a process per cut); binseg is the peer to
# beat on the morning view
MORNING_METHODS = ["default", "perfherder", "standin", "binseg"]
TALOS_EDIVISIVE_MAX_POINTS = 3000
MORNING_PROCESSES = 2  # the morning view's cuts are independent: one process per core


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def tune_binseg(points: pd.DataFrame, truth: pd.DataFrame, meta: pd.DataFrame) -> tuple[float, list[dict]]:
    from bench.peers.binseg import alerts_from_fit, fit

    fits = [(sid, ts, lib, fit(v)) for sid, ts, v, lib in iter_series(points)]
    grid = []
    for pen in PEN_GRID:
        frames = []
        for sid, ts, lib, (algo, keep, y) in fits:
            df = alerts_from_fit(algo, keep, y, ts, lib, pen)
            if len(df):
                df.insert(0, "series_id", sid)
                frames.append(df)
        alerts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["series_id"])
        sc, _ = score_generated(truth, alerts, meta)
        grid.append({"pen": pen, "f1": sc.f1, "precision": sc.precision, "recall": sc.recall})
    best = max(grid, key=lambda g: (g["f1"], g["pen"]))
    return float(best["pen"]), grid


def _clean(x):
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating | float):
        return None if not math.isfinite(float(x)) else float(x)
    return x


def _timing(info: dict) -> dict:
    out = {
        "seconds": info.get("seconds"),
        "points": info.get("points"),
        "points_per_s": info["points"] / info["seconds"] if info.get("seconds") else None,
    }
    if "end_to_end_seconds" in info:
        out["end_to_end_seconds"] = info["end_to_end_seconds"]
        out["end_to_end_points_per_s"] = info["points"] / info["end_to_end_seconds"]
    if info.get("errors"):
        out["errors"] = info["errors"]
    return out


def run_generated(methods, names, points, truth, meta, work, tag) -> dict:
    res = {}
    counts: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}  # per-series counts, strict and gap-aware
    for name in names:
        m = methods[name]
        if m.unavailable:
            res[name] = {"unavailable": m.unavailable}
            continue
        log(f"{tag}: {name}")
        try:
            alerts, info = run_method(m, points, work, tag)
        except Exception as exc:  # noqa: BLE001
            res[name] = {"unavailable": f"run failed: {exc}"}
            continue
        (c, tr), (cg, tr_gap) = (series_counts(truth, alerts, meta, gap_aware=ga) for ga in (False, True))
        sc, gap = score_counts(c, tr, meta), score_counts(cg, tr_gap, meta)
        counts[name] = (c, cg)
        tr = tr.merge(meta[["series_id", "noise"]], on="series_id")
        res[name] = {
            **sc.as_dict(),
            "gap_aware": {k: gap.as_dict()[k] for k in ("precision", "recall", "f1")},
            **_timing(info),
            "recall_by_noise": tr.groupby("noise")["found"].mean().to_dict(),
            "recall_small_steps_lt5pct": float(
                tr[(tr["kind"] == "step") & (tr["magnitude_pct"].abs() < 5)]["found"].mean()
            ),
        }
    _f1_intervals(res, counts, len(meta))
    return res


def _f1_intervals(res: dict, counts: dict, n_series: int) -> None:
    """Add each method's F1 interval (strict, gap-aware) and the default's paired F1 lead over it."""
    w = bootstrap_weights(n_series)
    samples = {n: (f1_samples(c, w), f1_samples(cg, w)) for n, (c, cg) in counts.items()}
    for name, (f, fg) in samples.items():
        res[name]["f1_ci90"] = interval(f)
        res[name]["gap_aware"]["f1_ci90"] = interval(fg)
        if "default" in samples and name != "default":
            res[name]["default_f1_lead"] = {"value": res["default"]["f1"] - res[name]["f1"],
                                            "ci90": interval(samples["default"][0] - f)}


def run_cli_default(points: pd.DataFrame, work: Path) -> dict:
    exe = ROOT / ".venv" / "bin" / "regression-assets"
    exe_path = str(exe) if exe.exists() else shutil.which("regression-assets")
    if not exe_path:
        return {"unavailable": "no regression-assets CLI"}
    in_csv, out_csv = work / "cli_in.csv", work / "cli_out.csv"
    write_input_csv(points, in_csv)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [exe_path, "detect", "--input", str(in_csv), "--output", str(out_csv), "--method", "default"],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"unavailable": f"exit {proc.returncode}: {proc.stderr[-500:]}"}
    return {"end_to_end_seconds": wall, "points": len(points), "points_per_s": len(points) / wall}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n-report", type=int, default=300)
    ap.add_argument("--n-tune", type=int, default=150)
    ap.add_argument("--edivisive-series", type=int, default=100)
    ap.add_argument("--edivisive-permutations", type=int, default=100)
    ap.add_argument("--morning-series", type=int, default=300)
    ap.add_argument("--methods", default=",".join(ORDER))
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    if args.quick:
        args.n_report, args.n_tune, args.edivisive_series, args.morning_series = 40, 30, 8, 8
    names = [n for n in args.methods.split(",") if n]
    t_start = time.perf_counter()
    work = HERE / "out"
    work.mkdir(exist_ok=True)

    # data
    tune = gen.generate(gen.TUNE_SEED, args.n_tune, prefix="tune-")
    report = gen.generate(gen.REPORT_SEED, args.n_report, prefix="rep-")
    gen.write(tune, work, "tune")
    gen.write(report, work, "report")
    t_pts, t_truth, t_meta = gen.to_frames(tune)
    r_pts, r_truth, r_meta = gen.to_frames(report)
    log(f"generated: tune {len(tune)} series / {len(t_pts)} points, report {len(report)} / {len(r_pts)}")

    # tune the binseg penalty once, on the tuning split only
    binseg_pen, grid = None, []
    try:
        import ruptures  # noqa: F401

        binseg_pen, grid = tune_binseg(t_pts, t_truth, t_meta)
        log(f"binseg penalty tuned on the tuning split: {binseg_pen}")
    except ImportError:
        pass
    methods = load_methods(binseg_pen=binseg_pen, edivisive_perms=args.edivisive_permutations)

    results: dict = {
        "config": {
            "n_report": args.n_report,
            "n_tune": args.n_tune,
            "tune_seed": gen.TUNE_SEED,
            "report_seed": gen.REPORT_SEED,
            "edivisive_series": args.edivisive_series,
            "edivisive_permutations": args.edivisive_permutations,
            "morning_series": args.morning_series,
            "binseg_pen": binseg_pen,
            "binseg_grid": grid,
            "machine": f"{platform.machine()} {platform.python_version()}",
        },
        "methods": {n: {"note": methods[n].note, "unavailable": methods[n].unavailable} for n in names},
        "report_set": {
            "series": len(report),
            "points": len(r_pts),
            "changes": len(r_truth),
            "steps": int((r_truth["kind"] == "step").sum()),
            "ramps": int((r_truth["kind"] == "ramp").sum()),
            "quiet_series": int((r_meta["n_changes"] == 0).sum()),
            "quiet_series_days": int(r_meta.loc[r_meta["n_changes"] == 0, "n_days"].sum()),
        },
    }

    # (a) generated, all methods but E-Divisive on the full report set
    results["generated"] = run_generated(
        methods, [n for n in names if n != "edivisive"], r_pts, r_truth, r_meta, work, "report"
    )
    ceiling, _ = score_generated(r_truth, ceiling_alerts(r_truth), r_meta)
    results["generated_ceiling"] = {k: ceiling.as_dict()[k] for k in ("f1", "recall", "n_found", "n_true")}
    # (a') the subsample E-Divisive can afford, every method on it
    sub_ids = list(r_meta["series_id"][: args.edivisive_series])
    s_pts = r_pts[r_pts["series_id"].isin(sub_ids)]
    s_meta = r_meta[r_meta["series_id"].isin(sub_ids)]
    results["generated_subsample"] = run_generated(methods, names, s_pts, r_truth, s_meta, work, "subsample")
    if "edivisive" in names:
        results["generated"]["edivisive"] = {
            **results["generated_subsample"].get("edivisive", {}),
            "subsample_series": len(sub_ids),
        }
    if "default" in names and not methods["default"].unavailable:
        log("CLI end to end (default)")
        results["cli_default"] = run_cli_default(r_pts, work)

    # (b) REALISE
    rl_pts, rl_ann = load_realise()
    results["realise"] = {}
    for name in names:
        m = methods[name]
        if m.unavailable:
            results["realise"][name] = {"unavailable": m.unavailable}
            continue
        log(f"realise: {name}")
        try:
            alerts, info = run_method(m, rl_pts, work, "realise")
        except Exception as exc:  # noqa: BLE001
            results["realise"][name] = {"unavailable": f"run failed: {exc}"}
            continue
        results["realise"][name] = {**score_realise(rl_pts, rl_ann, alerts), **_timing(info)}

    # (c) Talos conformance
    ta_pts, ta_exp = load_talos()
    results["talos"] = {}
    for name in names:
        m = methods[name]
        if m.unavailable:
            results["talos"][name] = {"unavailable": m.unavailable}
            continue
        pts = ta_pts
        skipped = []
        if name == "edivisive":
            sizes = ta_pts.groupby("series_id").size()
            skipped = list(sizes[sizes > TALOS_EDIVISIVE_MAX_POINTS].index)
            pts = ta_pts[~ta_pts["series_id"].isin(skipped)]
        log(f"talos: {name}")
        try:
            alerts, info = run_method(m, pts, work, "talos")
        except Exception as exc:  # noqa: BLE001
            results["talos"][name] = {"unavailable": f"run failed: {exc}"}
            continue
        exp = {k: v for k, v in ta_exp.items() if k not in skipped}
        results["talos"][name] = {**score_talos(pts, exp, alerts), **_timing(info), "skipped": skipped}

    # (d) morning view
    results["morning"] = {}
    m_ids = set(r_meta["series_id"][: args.morning_series])
    m_series = [s for s in iter_series(r_pts[r_pts["series_id"].isin(m_ids)])]
    for name in [n for n in MORNING_METHODS if n in names]:
        m = methods[name]
        if m.unavailable:
            results["morning"][name] = {"unavailable": m.unavailable}
            continue
        log(f"morning: {name}")
        results["morning"][name] = run_morning(m.fn, m_series, r_truth, r_meta, processes=MORNING_PROCESSES)

    results["goals"] = goals(results)
    results["runtime_seconds"] = time.perf_counter() - t_start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(_clean(results), indent=1) + "\n")
    (args.out / "results.md").write_text(render_md(_clean(results)))
    log(f"wrote {args.out / 'results.md'} and results.json in {results['runtime_seconds']:.0f} s")


def goals(res: dict) -> dict:
    g = res.get("generated", {}).get("default", {})
    mo = res.get("morning", {}).get("default", {})
    rl = res.get("realise", {})
    out: dict = {}
    if "f1" in g:
        ce = res.get("generated_ceiling", {}).get("f1")
        out["generated F1 >= 0.95" + (f" (ceiling on these series: {ce:.3f})" if ce else "")] = (
            g["f1"], g["f1"] >= 0.95, g.get("f1_ci90"))
        if "gap_aware" in g:
            ga = g["gap_aware"]["f1"]
            out["generated F1 >= 0.95, changes in data gaps matched where they first show"] = (
                ga, ga >= 0.95, g["gap_aware"].get("f1_ci90"))
        out["false alerts per 1,000 quiet series-days <= 0.5"] = (
            g["false_per_1000_quiet_days"],
            g["false_per_1000_quiet_days"] <= 0.5,
        )
        out["recall on slow ramps >= 0.8"] = (g["recall_ramp"], g["recall_ramp"] >= 0.8)
        pps = g.get("points_per_s") or 0.0
        out["default >= 20,000 points/s"] = (pps, pps >= 20_000)
    if "found_share" in mo:
        ci = mo.get("ci90", {})
        cf = mo.get("found_share_ceiling")
        out["morning: >= 95 % of changes found" + (f" (ceiling: {cf:.3f})" if cf == cf and cf else "")] = (
            mo["found_share"], mo["found_share"] >= 0.95, ci.get("found_share"))
        fg = mo.get("found_share_gap_aware")
        if fg is not None and fg == fg:
            out["morning: >= 95 % found, changes in data gaps matched where they first show"] = (
                fg, fg >= 0.95, ci.get("found_share_gap_aware"))
        g2, g3 = (mo.get(f"gate_floor_median_delay_days_{k}pt", float("nan")) for k in (2, 3))
        out[f"morning: median delay <= 2 days (gate floor at 2 / 3 points: {g2:.2f} / {g3:.2f} d)"] = (
            mo["median_delay_days"],
            mo["median_delay_days"] <= 2,
            ci.get("median_delay_days"),
        )
        out["morning: <= 2 % retracted"] = (mo["retracted_share"], mo["retracted_share"] <= 0.02,
                                            ci.get("retracted_share"))
    if "mean" in rl.get("default", {}):
        f_def = rl["default"]["mean"]["f1"]
        peers = {
            k: v["mean"]["f1"] for k, v in rl.items() if k != "default" and "mean" in v and k != "standin"
        }
        best = max(peers.values()) if peers else float("nan")
        out["REALISE F1 ahead of every peer"] = (f_def, bool(peers) and f_def > best)
    return {k: {"value": v[0], "met": bool(v[1]), **({"ci90": v[2]} if len(v) > 2 and v[2] else {})}
            for k, v in out.items()}


def _f(x, nd=3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _gap(v: dict) -> str:
    ga = v.get("gap_aware")
    return "—" if not ga else f"{_f(ga['precision'])} / {_f(ga['recall'])} / {_f(ga['f1'])}"


def _ci(v: dict | None, key: str = "f1_ci90", nd: int = 3) -> str:
    ci = (v or {}).get(key)
    return "—" if not ci else f"{_f(ci[0], nd)}–{_f(ci[1], nd)}"


def _pps(x) -> str:
    return "—" if x is None else f"{x:,.0f}"


def render_md(r: dict) -> str:
    c = r["config"]
    rs = r["report_set"]
    L = ["# Benchmark results", ""]
    L.append(
        f"Generated by `make bench` (bench/harness.py) in {r['runtime_seconds']:.0f} s on {c['machine']}. "
        "Peers run in the same run on the same data; E-Divisive and Otava run in their own venvs "
        "(bench/.venv-edivisive: numpy<2; bench/.venv-otava: numpy 2.2 / scipy 1.16) through the CLI's CSV "
        "shapes. Every peer gets the same 2 % magnitude gate and direction logic: magnitude = mean of the "
        "points after vs before the change point within ±7 days (clipped to the neighbouring change "
        "points), alert kept if |magnitude| ≥ 2 %, direction from lower_is_better."
    )
    L.append("")
    L.append("## Methods")
    L.append("")
    L.append("| method | what | status |")
    L.append("|---|---|---|")
    for n, m in r["methods"].items():
        L.append(
            f"| {n} | {m['note']} | {'unavailable: ' + m['unavailable'] if m['unavailable'] else 'ran'} |"
        )
    L.append("")
    L.append(
        f"binseg penalty tuned once on the tuning split (seed {c['tune_seed']}, {c['n_tune']} series) over "
        f"{[g['pen'] for g in c['binseg_grid']]}: **{c['binseg_pen']}**, then frozen. "
        "`standin` is the bench's own placeholder detector (bench/standin.py), not a product."
    )
    L.append("")
    L.append("## (a) Generated set")
    L.append("")
    L.append(
        f"Report split: seed {c['report_seed']} (never tuned on), {rs['series']} series, {rs['points']:,} points, "
        f"{rs['changes']} changes ({rs['steps']} steps of 2–15 %, {rs['ramps']} ramps over 10–30 days), "
        f"{rs['quiet_series']} series with no change ({rs['quiet_series_days']:,} quiet series-days). "
        "A change is found by an alert of the right direction within [start − 1 day, start + 3 days] "
        "(a ramp: up to its end + 3 days), each alert matched at most once. "
        "Some changes start inside a data gap (weekends, missing days), where the first point after the "
        "change (the alert timestamp the `detect` contract asks for) can be more than 3 days after the start: "
        "the strict window then counts a correctly placed alert as a miss *and* a false alert. The "
        "`gap-aware` columns end the window 3 days after the later of the start and that first point "
        "(same matcher otherwise); the goal table shows both. "
        f"E-Divisive is too slow for the whole set (O(n²) per pass): it ran on the first "
        f"{c['edivisive_series']} report series with {c['edivisive_permutations']} permutations; the "
        "second table has every method on that same subsample. "
        f"Intervals (here and in the goal table) are {LEVEL * 100:.0f} % percentile bootstrap intervals over series: "
        f"{BOOTSTRAP_RESAMPLES:,} resamples of the series with replacement (seed {BOOTSTRAP_SEED}), the same "
        "resamples for every method, so a difference between two methods is paired. They say how much a "
        "number would move on another draw of series like these; they do not cover the generator's choices."
    )
    L.append("")
    for key, title in (("generated", "All report series"), ("generated_subsample", "E-Divisive's subsample")):
        L.append(f"### {title}")
        L.append("")
        L.append(
            "| method | precision | recall | F1 | F1 90 % interval | gap-aware P / R / F1 | recall steps | recall "
            "ramps | false alerts / 1,000 quiet series-days | alerts | runtime s | points/s | end-to-end points/s |"
        )
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n, v in r[key].items():
            if "unavailable" in v and "f1" not in v:
                L.append(f"| {n} | unavailable: {v['unavailable'][:80]} |||||||||||")
                continue
            note = f" (subsample of {v['subsample_series']})" if "subsample_series" in v else ""
            L.append(
                f"| {n}{note} | {_f(v['precision'])} | {_f(v['recall'])} | {_f(v['f1'])} | {_ci(v)} | {_gap(v)} | "
                f"{_f(v['recall_step'])} | {_f(v['recall_ramp'])} | {_f(v['false_per_1000_quiet_days'], 2)} | "
                f"{v['n_alerts']} | {_f(v['seconds'], 1)} | {_pps(v['points_per_s'])} | "
                f"{_pps(v.get('end_to_end_points_per_s'))} |"
            )
        L.append("")
        leads = [f"{n}{' (on its subsample)' if 'subsample_series' in v else ''} "
                 f"{v['default_f1_lead']['value']:+.3f} ({_ci(v['default_f1_lead'], 'ci90')})"
                 for n, v in r[key].items() if "default_f1_lead" in v and n != "nothing"]
        if leads:
            L.append("The default's F1 lead over each peer on these series (paired: the same resamples for "
                     "both): " + "; ".join(leads) + ".")
            L.append("")
        ce = r.get("generated_ceiling")
        if key == "generated" and ce:
            L.append(f"The ceiling on the strict window: a detector that knew the truth and alerted at each "
                     f"change's first data point would find {ce['n_found']} of {ce['n_true']} changes, F1 "
                     f"{_f(ce['f1'])}; the rest start in data gaps longer than the window's 3 days.")
            L.append("")
    if "cli_default" in r:
        cd = r["cli_default"]
        L.append(
            "CLI end to end (`regression-assets detect --method default` on the report CSV, including "
            "start-up and I/O): "
            + (
                f"{cd['end_to_end_seconds']:.1f} s, {_pps(cd['points_per_s'])} points/s"
                if "points_per_s" in cd
                else f"unavailable ({cd.get('unavailable')})"
            )
        )
        L.append("")
    L.append("## (b) Real Mozilla series (REALISE), TCPD F1")
    L.append("")
    L.append(
        "TCPD F1 as TCPDBench defines it: margin 5 points, **index 0 counted in every set** (annotators' "
        "and predictions), precision against the union of the annotators, recall averaged over annotators; "
        "mean over the series. Alert timestamps map to the first push at or after them. "
        "The metric's direction is not in the data: lower_is_better=True for all."
    )
    L.append("")
    sids = None
    for v in r["realise"].values():
        if "per_series" in v:
            sids = list(v["per_series"])
            break
    sids = sids or []
    L.append(
        "| method | mean F1 | mean P | mean R | " + " | ".join(f"F1 {s}" for s in sids) + " | points/s |"
    )
    L.append("|---|---|---|---|" + "---|" * len(sids) + "---|")
    for n, v in r["realise"].items():
        if "mean" not in v:
            L.append(f"| {n} | unavailable: {v.get('unavailable', '')[:80]} |||" + "|" * len(sids) + "|")
            continue
        per = " | ".join(_f(v["per_series"][s]["f1"]) for s in sids)
        L.append(
            f"| {n} | {_f(v['mean']['f1'])} | {_f(v['mean']['precision'])} | {_f(v['mean']['recall'])} | "
            f"{per} | {_pps(v['points_per_s'])} |"
        )
    L.append("")
    L.append("## (c) Talos conformance (Perfherder port)")
    L.append("")
    L.append(
        "Expected: the push times where Perfherder's t-test flags a change, pinned in Treeherder's tests, "
        "**before** the 2 % gate (which keeps 9 of the 12). hits = alerts at exactly an expected push."
    )
    L.append("")
    L.append("| method | expected | hits | other alerts | note |")
    L.append("|---|---|---|---|---|")
    for n, v in r["talos"].items():
        if "hits" not in v:
            L.append(f"| {n} | unavailable: {v.get('unavailable', '')[:80]} ||||")
            continue
        note = (
            f"skipped (> {TALOS_EDIVISIVE_MAX_POINTS} points): {', '.join(v['skipped'])}"
            if v["skipped"]
            else ""
        )
        L.append(f"| {n} | {v['expected']} | {v['hits']} | {v['extra']} | {note} |")
    L.append("")
    L.append("## (d) Morning view")
    L.append("")
    L.append(
        f"The first {c['morning_series']} report series, each cut every 2nd day (from day 20) and the "
        "detector run on each cut alone. found = share of changes matched on some morning; delay = days "
        "from the change to the first morning it is matched; retracted = share of new alerts (no alert of "
        "the same direction within 7 days on the previous cut) with no such alert two cuts later (the "
        "change is no longer reported); moved or retracted = the same with 1 day instead of 7 (the alert "
        "a sheriff saw, at its push, is gone: mostly a change point that moved by more than a day). "
        "gap-aware: found and median delay with a change that starts inside a data gap matched where it "
        "first shows, as in the gap-aware columns of (a). A method that finds only the easy changes has a "
        "short median delay over what it found, so each peer's delays are also given next to the default's "
        "on the changes both found."
    )
    fl = next((v for v in r["morning"].values() if "floor_median_delay_days_3pt" in v), None)
    if fl:
        L.append("")
        L.append(
            f"The data floor on these cuts, whatever the method: the first cut holding at least one point "
            f"after a change comes a median {_f(fl['floor_median_delay_days_1pt'], 2)} days after it, the "
            f"first holding three (the default method's min_after; two suffice only at t >= 9) "
            f"{_f(fl['floor_median_delay_days_3pt'], 2)} days after it. "
            f"The gate floor, for a detector that finds {GATE_FLOOR_SHARE:.0%} of the changes (the goal) and "
            f"reports a change only once it is {GATE_PCT:g} % (a ramp's level has passed the gate on some point "
            f"of the cut, as the `detect` contract's magnitude gate asks), over the {GATE_FLOOR_SHARE:.0%} of "
            f"changes quickest to show: a median {_f(fl.get('gate_floor_median_delay_days_1pt'), 2)} days on "
            f"one point after the change, {_f(fl.get('gate_floor_median_delay_days_2pt'), 2)} on two, "
            f"{_f(fl.get('gate_floor_median_delay_days_3pt'), 2)} on three. Where the two-point floor is over "
            f"2 days, the goal of a median delay of 2 days or less with {GATE_FLOOR_SHARE:.0%} found needs "
            f"alerts on a single run, which an outlier of 5-60 sd cannot be told from. "
            f"The found ceiling on the strict window: a detector that knew the truth, alerting at each "
            f"change's first point once a cut holds three points after it, would find "
            f"{_f(fl.get('found_share_ceiling'))} of the changes (the rest start in long data gaps, or too "
            f"close to the last cut)."
        )
    L.append("")
    L.append(
        "| method | changes | found (90 % interval) | median delay d (interval) | p90 delay d | gap-aware found / "
        "median delay d | on the changes both found: median delay d, this / default (changes) | new alerts | "
        "retracted (interval) | moved or retracted | points/s |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    base = r["morning"].get("default", {})
    for n, v in r["morning"].items():
        if "found_share" not in v:
            L.append(f"| {n} | unavailable: {v.get('unavailable', '')[:80]} ||||||||||")
            continue
        gap = (f"{_f(v['found_share_gap_aware'])} / {_f(v['median_delay_days_gap_aware'], 1)}"
               if v.get("found_gap_aware") is not None else "—")
        both, d_this, d_base = paired_delays(v, base)
        paired = "—" if n == "default" or not both else f"{_f(d_this, 1)} / {_f(d_base, 1)} ({both})"
        L.append(
            f"| {n} | {v['changes']} | {_f(v['found_share'])} ({_ci(v.get('ci90'), 'found_share')}) | "
            f"{_f(v['median_delay_days'], 1)} ({_ci(v.get('ci90'), 'median_delay_days', 1)}) | "
            f"{_f(v['p90_delay_days'], 1)} | {gap} | {paired} | {v['new_alerts']} | "
            f"{_f(v['retracted_share'])} ({_ci(v.get('ci90'), 'retracted_share')}) | "
            f"{_f(v['moved_or_retracted_share'])} | {_pps(v['points_per_s'])} |"
        )
    L.append("")
    L.append("## Goals (default method)")
    L.append("")
    if r["goals"]:
        L.append("| goal | value | 90 % interval | met |")
        L.append("|---|---|---|---|")
        for k, v in r["goals"].items():
            L.append(f"| {k} | {_f(v['value'])} | {_ci(v, 'ci90')} | {'yes' if v['met'] else '**no**'} |")
    else:
        L.append("The default method was unavailable in this run: no goal checked.")
    L.append("")
    L += _experiments_log()
    return "\n".join(L)


def _experiments_log() -> list[str]:
    """bench/EXPERIMENTS.md (what was tried on the tuning split, what did not help), one level down."""
    path = HERE / "EXPERIMENTS.md"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    body = lines[1:] if lines and lines[0].startswith("# ") else lines
    return ["## What was tried, and what did not help (bench/EXPERIMENTS.md, copied)", "",
            *[("#" + ln if ln.startswith("#") else ln) for ln in body], ""]


if __name__ == "__main__":
    main()
