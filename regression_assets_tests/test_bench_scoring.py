"""The benchmark's scoring (bench/score.py), on hand-computed cases, and a small seeded quality floor.

The full benchmark (`make bench`) is not part of `make test`; the quality test here runs the default
detector on 8 generated series (seed QUALITY_SEED, neither the bench's tuning nor its report seed) and
fails if recall or precision under the bench's tolerance rule drops below 0.8.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.score import match_series, score_generated, tcpd_f_measure, tcpd_true_positives

QUALITY_SEED = 12
RECALL_FLOOR = 0.8
PRECISION_FLOOR = 0.8


def T(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


def _truth(rows):
    return pd.DataFrame(rows, columns=["series_id", "start", "end", "kind", "direction", "magnitude_pct"])


def _alerts(rows):
    return pd.DataFrame(rows, columns=["series_id", "timestamp", "direction"])


# ------------------------------------------------------------------------------- tolerance matcher


@pytest.mark.parametrize(
    ("alert_ts", "direction", "found"),
    [
        ("2025-01-09 00:00:00", "regression", True),  # exactly start - 1 day
        ("2025-01-08 23:59:59", "regression", False),  # just before
        ("2025-01-13 00:00:00", "regression", True),  # exactly start + 3 days
        ("2025-01-13 00:00:01", "regression", False),  # just after
        ("2025-01-10 00:00:00", "improvement", False),  # wrong direction
    ],
)
def test_step_window_edges(alert_ts, direction, found):
    truth = _truth([("a", T("2025-01-10"), T("2025-01-10"), "step", "regression", 5.0)])
    res, n = match_series(truth, _alerts([("a", T(alert_ts), direction)]))
    assert (res[0] is not None) is found
    assert n == int(found)


def test_ramp_window_runs_to_end_plus_three_days():
    truth = _truth([("a", T("2025-01-10"), T("2025-01-25"), "ramp", "improvement", -6.0)])
    assert match_series(truth, _alerts([("a", T("2025-01-28"), "improvement")]))[0] == [0]
    assert match_series(truth, _alerts([("a", T("2025-01-28 00:00:01"), "improvement")]))[0] == [None]
    assert match_series(truth, _alerts([("a", T("2025-01-09"), "improvement")]))[0] == [0]


def test_each_alert_and_change_matched_at_most_once():
    truth = _truth([("a", T("2025-01-10"), T("2025-01-10"), "step", "regression", 5.0)])
    alerts = _alerts([("a", T("2025-01-11"), "regression"), ("a", T("2025-01-10 06:00"), "regression")])
    res, n = match_series(truth, alerts)
    assert res == [1]  # the closer one
    assert n == 1


def test_gap_aware_window_ends_three_days_after_the_first_point_after_a_gap():
    # a step on Friday evening; no data until Wednesday: the contract's alert (first point after the
    # change) is 4.6 days after the start
    truth = _truth([("a", T("2025-01-10 18:00"), T("2025-01-10 18:00"), "step", "regression", 5.0)])
    truth["first_point"] = T("2025-01-15 08:00")
    alerts = _alerts([("a", T("2025-01-15 08:00"), "regression")])
    assert match_series(truth, alerts)[0] == [None]  # the literal window
    assert match_series(truth, alerts, gap_aware=True)[0] == [0]
    late = _alerts([("a", T("2025-01-18 08:00:01"), "regression")])
    assert match_series(truth, late, gap_aware=True)[0] == [None]  # still 3 days at most


def test_to_frames_first_point_is_the_first_data_point_at_or_after_the_start():
    from bench.generate import GenSeries, to_frames

    ts = pd.to_datetime(["2025-01-09 10:00", "2025-01-10 09:00", "2025-01-15 08:00", "2025-01-16 08:00"]).to_numpy()
    s = GenSeries("a", ts.astype("datetime64[ns]"), np.ones(4), True, "gaussian", 1.0, 1.0, 8,
                  np.datetime64("2025-01-09"),
                  [{"kind": "step", "direction": "regression", "magnitude_pct": 5.0,
                    "start": np.datetime64("2025-01-10T18:00"), "end": np.datetime64("2025-01-10T18:00")}])
    _, truth, _ = to_frames([s])
    assert pd.Timestamp(truth["first_point"].iat[0]) == T("2025-01-15 08:00")


def _alert_after_gap(ts, vals, lib):
    """A stand-in detector: one regression at the first point after the series' data gap, once seen."""
    gap_end = np.flatnonzero(np.diff(ts) > np.timedelta64(3, "D"))
    if not gap_end.size or gap_end[0] + 1 >= len(ts):
        return pd.DataFrame(columns=["timestamp", "direction"])
    return pd.DataFrame({"timestamp": [ts[gap_end[0] + 1]], "direction": ["regression"]})


def test_morning_view_counts_a_change_in_a_gap_found_only_gap_aware():
    from bench.morning import run_morning

    # a run a day for 60 days, no data on days 30-35; the change starts on day 30.5, first shows on day 36
    first = np.datetime64("2025-01-01T00:00", "ns")
    days = [d for d in range(60) if not 30 <= d < 36]
    ts = np.array([first + np.timedelta64(d * 24 + 8, "h") for d in days], dtype="datetime64[ns]")
    start = first + np.timedelta64(30 * 24 + 12, "h")
    truth = _truth([("a", start, start, "step", "regression", 5.0)])
    truth["first_point"] = ts[np.searchsorted(ts, start)]
    meta = pd.DataFrame({"series_id": ["a"], "first_day": [first], "n_days": [60]})
    m = run_morning(_alert_after_gap, [("a", ts, np.ones(len(ts)), True)], truth, meta)
    assert (m["changes"], m["found"], m["found_gap_aware"]) == (1, 0, 1)
    assert m["found_share"] == 0.0 and m["found_share_gap_aware"] == 1.0
    # day 36's point (08:00) is on the cut of day 38 (cuts every 2nd day from day 20): 7.5 days after the start
    assert m["median_delay_days_gap_aware"] == 7.5


def test_the_ceiling_misses_only_the_change_that_starts_in_a_long_data_gap():
    from bench.morning import run_morning
    from bench.score import ceiling_alerts

    # a run a day for 80 days, none on days 30-35: a step starting on day 30.5 first shows on day 36 (outside
    # its strict window), one on day 50.5 on day 51, one on day 78.5 only on day 79 (one point before the end)
    first = np.datetime64("2025-01-01T00:00", "ns")
    ts = np.array([first + np.timedelta64(d * 24 + 8, "h") for d in range(80) if not 30 <= d < 36],
                  dtype="datetime64[ns]")
    starts = [first + np.timedelta64(d * 24 + 12, "h") for d in (30, 50, 78)]
    truth = _truth([("a", s, s, "step", "regression", 5.0) for s in starts])
    truth["first_point"] = [ts[np.searchsorted(ts, s)] for s in starts]
    meta = pd.DataFrame({"series_id": ["a"], "first_day": [first], "n_days": [80], "n_changes": [3]})
    strict, found = score_generated(truth, ceiling_alerts(truth), meta)
    assert list(found["found"]) == [False, True, True] and strict.precision == 2 / 3
    # the morning view: the last change is never seen on 3 points (the last cut, day 80, holds one)
    m = run_morning(_alert_after_gap, [("a", ts, np.ones(len(ts)), True)], truth, meta)
    assert m["changes"] == 3 and m["found_share_ceiling"] == 1 / 3


def test_the_gate_floor_waits_for_a_ramp_to_pass_the_magnitude_gate():
    from bench.morning import run_morning

    # a run a day at 08:00 for 80 days; a 5 % step on day 30.5 and a 4 % ramp over days 40.5 .. 60.5, whose
    # level passes 2 % at 40.5 + 20 * log(1.02) / log(1.04) = day 50.60 (first point: day 51)
    first = np.datetime64("2025-01-01T00:00", "ns")
    ts = np.array([first + np.timedelta64(d * 24 + 8, "h") for d in range(80)], dtype="datetime64[ns]")
    at = [first + np.timedelta64(d * 24 + 12, "h") for d in (30, 40, 60)]
    truth = _truth([("a", at[0], at[0], "step", "regression", 5.0), ("a", at[1], at[2], "ramp", "regression", 4.0)])
    meta = pd.DataFrame({"series_id": ["a"], "first_day": [first], "n_days": [80]})
    m = run_morning(_alert_after_gap, [("a", ts, np.ones(len(ts)), True)], truth, meta)
    # cuts on even days: the step's first point (day 31) is on the cut of day 32 (1.5 d), its second and
    # third on day 34's (3.5 d); the ramp shows on day 42's cut (1.5 d) but passes the gate on day 52's (11.5 d)
    assert m["floor_median_delay_days_1pt"] == 1.5
    assert m["gate_floor_median_delay_days_1pt"] == (1.5 + 11.5) / 2
    assert m["gate_floor_median_delay_days_2pt"] == m["gate_floor_median_delay_days_3pt"] == (3.5 + 11.5) / 2


def test_the_gate_floor_is_over_the_quickest_share_of_changes():
    from bench.morning import _quickest_median

    # a detector finding 2 of 4 changes at best finds the 2 quickest
    assert _quickest_median([3.0, 100.0, 1.0, 2.0], 0.5) == 1.5
    assert _quickest_median([3.0, 100.0, 1.0, 2.0], 0.95) == 2.5  # ceil(3.8) = all 4
    assert _quickest_median([3.0, np.inf, 1.0], 0.6) == 2.0  # one never shows: the quickest 2 of 3
    assert np.isnan(_quickest_median([], 0.95))


def test_paired_delays_compare_two_methods_on_the_changes_both_found():
    from bench.morning import paired_delays, run_morning

    first = np.datetime64("2025-01-01T00:00", "ns")
    ts = np.array([first + np.timedelta64(d * 24 + 8, "h") for d in range(60)], dtype="datetime64[ns]")
    at = [first + np.timedelta64(d * 24 + 12, "h") for d in (25, 45)]
    truth = _truth([("a", t, t, "step", "regression", 5.0) for t in at])
    meta = pd.DataFrame({"series_id": ["a"], "first_day": [first], "n_days": [60]})

    def slow_second(ts, vals, lib):  # the first change once its point is in, the second 6 days late
        shown = [t for t, late in zip(at, (0, 6), strict=True) if ts[-1] >= t + np.timedelta64(late, "D")]
        return pd.DataFrame({"timestamp": [ts[np.searchsorted(ts, t)] for t in shown], "direction": "regression"})

    def first_only(ts, vals, lib):
        return slow_second(ts, vals, lib).iloc[:1]

    slow, one = (run_morning(fn, [("a", ts, np.ones(len(ts)), True)], truth, meta) for fn in (slow_second, first_only))
    # cuts on even days hold the points before them: day 25.5's change first shows on day 26 (08:00), on
    # day 28's cut (2.5 d); day 45.5's is reported from day 52's point, on day 54's cut (8.5 d)
    assert slow["first_found_days"] == {"a": [2.5, 8.5]} and one["first_found_days"] == {"a": [2.5, None]}
    assert (slow["median_delay_days"], one["median_delay_days"]) == (5.5, 2.5)  # finding less looks faster
    assert paired_delays(one, slow) == (1, 2.5, 2.5)  # on the change both found, equally fast
    both, d_one, d_none = paired_delays(one, {})
    assert both == 0 and np.isnan(d_one) and np.isnan(d_none)


def test_score_generated_hand_computed():
    truth = _truth(
        [
            ("a", T("2025-02-01"), T("2025-02-01"), "step", "regression", 5.0),
            ("a", T("2025-04-01"), T("2025-04-20"), "ramp", "improvement", -8.0),
            ("b", T("2025-03-01"), T("2025-03-01"), "step", "improvement", -3.0),
        ]
    )
    meta = pd.DataFrame({"series_id": ["a", "b", "q"], "n_days": [150, 150, 200], "n_changes": [2, 1, 0]})
    alerts = _alerts(
        [
            ("a", T("2025-02-02"), "regression"),  # TP (step)
            ("a", T("2025-02-03"), "regression"),  # FP: the step is already taken
            ("a", T("2025-04-15"), "improvement"),  # TP (ramp)
            ("b", T("2025-03-01"), "regression"),  # FP: wrong direction, b's change missed
            ("q", T("2025-05-05"), "regression"),  # FP on a quiet series
        ]
    )
    sc, tr = score_generated(truth, alerts, meta)
    assert (sc.n_true, sc.n_found, sc.n_alerts, sc.n_true_alerts) == (3, 2, 5, 2)
    assert sc.precision == pytest.approx(2 / 5)
    assert sc.recall == pytest.approx(2 / 3)
    assert sc.f1 == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))
    assert sc.recall_step == pytest.approx(1 / 2)
    assert sc.recall_ramp == pytest.approx(1.0)
    assert sc.false_alerts_quiet == 1
    assert sc.false_per_1000_quiet_days == pytest.approx(1000 / 200)
    assert list(tr["found"]) == [True, True, False]


def test_predicting_nothing_has_no_precision_and_zero_f1():
    truth = _truth([("a", T("2025-02-01"), T("2025-02-01"), "step", "regression", 5.0)])
    meta = pd.DataFrame({"series_id": ["a"], "n_days": [100], "n_changes": [1]})
    sc, _ = score_generated(truth, _alerts([]), meta)
    assert np.isnan(sc.precision)
    assert sc.recall == 0.0
    assert sc.f1 == 0.0


# ------------------------------------------------------------------------------------------ intervals


def test_series_counts_per_series_hand_computed():
    from bench.score import series_counts

    truth = _truth([
        ("a", T("2025-02-01"), T("2025-02-01"), "step", "regression", 5.0),
        ("a", T("2025-04-01"), T("2025-04-20"), "ramp", "improvement", -8.0),
        ("b", T("2025-03-01"), T("2025-03-01"), "step", "improvement", -3.0),
    ])
    meta = pd.DataFrame({"series_id": ["q", "a", "b"], "n_days": [200, 150, 150], "n_changes": [0, 2, 1]})
    alerts = _alerts([
        ("a", T("2025-02-02"), "regression"), ("a", T("2025-02-03"), "regression"),
        ("b", T("2025-03-01"), "regression"), ("q", T("2025-05-05"), "regression"),
    ])
    counts, tr = series_counts(truth, alerts, meta)
    assert list(counts.index) == ["q", "a", "b"]  # meta's order: resamples line up across methods
    assert counts.loc["q"].tolist() == [0, 0, 1, 0]  # n_true, n_found, n_alerts, n_true_alerts
    assert counts.loc["a"].tolist() == [2, 1, 2, 1]
    assert counts.loc["b"].tolist() == [1, 0, 1, 0]
    assert list(tr["found"]) == [True, False, False]


def test_bootstrap_samples_of_the_drawn_series_once_each_are_the_point_estimates():
    from bench.score import f1_samples, median_samples, ratio_samples

    counts = pd.DataFrame({"n_true": [2, 1, 0], "n_found": [1, 1, 0], "n_alerts": [2, 1, 1],
                           "n_true_alerts": [1, 1, 0]})
    once = np.ones((1, 3), int)
    p, r = 2 / 4, 2 / 3
    assert f1_samples(counts, once)[0] == pytest.approx(2 * p * r / (p + r))
    assert f1_samples(counts, np.array([[0, 0, 1]]))[0] == 0.0  # alerts, none true: F1 0, not NaN
    assert ratio_samples([1, 2, 0], [2, 2, 0], once)[0] == pytest.approx(3 / 4)
    # the lower median of the pooled values; series drawn twice count twice
    assert median_samples([[1.0, 5.0], [2.0], []], once)[0] == 2.0
    assert median_samples([[1.0, 5.0], [2.0], []], np.array([[0, 3, 1]]))[0] == 2.0
    assert median_samples([[1.0, 5.0], [2.0], []], np.array([[2, 0, 1]]))[0] == 1.0


def test_paired_lead_of_a_method_over_itself_is_exactly_zero():
    from bench.score import bootstrap_weights, f1_samples, interval

    rng = np.random.default_rng(5)
    n_true = rng.integers(0, 4, 100)
    n_found = rng.binomial(n_true, 0.9)
    n_alerts = n_found + rng.integers(0, 2, 100)
    counts = pd.DataFrame({"n_true": n_true, "n_found": n_found, "n_alerts": n_alerts, "n_true_alerts": n_found})
    w = bootstrap_weights(100)
    f = f1_samples(counts, w)
    assert interval(f - f1_samples(counts.copy(), w)) == [0.0, 0.0]
    lo, hi = interval(f)
    assert lo < f1_samples(counts, np.ones((1, 100), int))[0] < hi


def test_bootstrap_interval_covers_a_known_share_about_as_often_as_its_level():
    """200 draws of 150 series whose changes are each found with probability 0.93 (1-3 changes a series):
    the 90 % interval of the found share covers 0.93 in 80-97 % of the draws."""
    from bench.score import bootstrap_weights, interval, ratio_samples

    rng = np.random.default_rng(20261124)
    w = bootstrap_weights(150, resamples=1000)
    covered = 0
    for _ in range(200):
        changes = rng.integers(1, 4, 150)
        found = rng.binomial(changes, 0.93)
        lo, hi = interval(ratio_samples(found, changes, w))
        covered += lo <= 0.93 <= hi
    assert 160 <= covered <= 194, covered


# ------------------------------------------------------------------------------------------- TCPD F1


def test_tcpd_reference_doctests():
    # the examples in TCPDBench's analysis/scripts/metrics.py
    assert tcpd_true_positives({1, 10, 20, 23}, {3, 8, 20}) == {1, 10, 20}
    assert tcpd_true_positives({1, 10, 20, 23}, {1, 3, 8, 20}) == {1, 10, 20}
    assert tcpd_true_positives({1, 10, 20, 23}, {1, 3, 5, 8, 20}) == {1, 10, 20}
    assert tcpd_true_positives(set(), {1, 2, 3}) == set()
    assert tcpd_true_positives({1, 2, 3}, set()) == set()
    assert tcpd_f_measure({1: [10, 20], 2: [11, 20], 3: [10], 4: [0, 5]}, [10, 20])[0] == 1.0
    assert tcpd_f_measure({1: [], 2: [10], 3: [50]}, [10])[0] == pytest.approx(0.9090909090909091)
    assert tcpd_f_measure({1: [], 2: [10], 3: [50]}, [])[0] == pytest.approx(0.8)


def test_tcpd_hand_computed():
    # X = {0, 103, 300}; T* = {0, 100, 200}: 0 -> 0, 100 -> 103, 200 unmatched: P = 2/3.
    # annotator a {0, 100}: 2/2; annotator b {0, 100, 200}: 2/3; R = (1 + 2/3) / 2 = 5/6.
    f, p, r = tcpd_f_measure({"a": [100], "b": [100, 200]}, [103, 300])
    assert p == pytest.approx(2 / 3)
    assert r == pytest.approx(5 / 6)
    assert f == pytest.approx(20 / 27)


def test_tcpd_margin_is_inclusive_and_predictions_used_once():
    assert tcpd_f_measure({"a": [100]}, [105])[2] == 1.0
    assert tcpd_f_measure({"a": [100]}, [106])[2] == pytest.approx(0.5)  # only index 0 recalled
    # one prediction between two annotated points serves only one of them
    assert tcpd_true_positives({0, 50, 54}, {0, 52}) == {0, 50}


# --------------------------------------------------------------------------------- seeded quality


def test_default_detector_quality_floor():
    pytest.importorskip("regression_assets.stats.changepoint")
    detectors = pytest.importorskip("regression_assets.stats.detectors")
    from bench.generate import generate, to_frames
    from bench.methods import iter_series, run_inproc

    points, truth, meta = to_frames(generate(QUALITY_SEED, 8, prefix="q-"))
    alerts, info = run_inproc(detectors.METHODS["default"], list(iter_series(points)))
    assert info["errors"] == 0
    sc, _ = score_generated(truth, alerts, meta)
    assert sc.n_true >= 8
    assert sc.recall >= RECALL_FLOOR, sc
    assert sc.precision >= PRECISION_FLOOR, sc


def test_flip_flops_lists_the_alerts_that_vanished():
    from bench.morning import flip_flops

    d10, d20 = np.datetime64("2025-01-10", "ns"), np.datetime64("2025-01-20", "ns")

    def cut(*alerts):
        return (np.array([a[0] for a in alerts], "datetime64[ns]"), np.array([a[1] for a in alerts], dtype=object))

    # day 10's regression is new on cut 0 and gone two cuts later; day 20's improvement stays
    per_cut = [cut((d10, "regression")), cut((d10, "regression"), (d20, "improvement")),
               cut((d20, "improvement")), cut((d20, "improvement"))]
    vanished: list = []
    assert flip_flops(per_cut, np.timedelta64(7, "D"), vanished) == (2, 1)
    assert vanished == [(0, d10, "regression")]
    assert flip_flops(per_cut, np.timedelta64(7, "D")) == (2, 1)


def test_morning_view_lists_retracted_alerts_only_when_asked():
    from bench.morning import run_morning

    first = np.datetime64("2025-01-01T00:00", "ns")
    ts = np.array([first + np.timedelta64(d * 24 + 8, "h") for d in range(60)], dtype="datetime64[ns]")
    meta = pd.DataFrame({"series_id": ["a"], "first_day": [first], "n_days": [60]})
    truth = _truth([]).assign(first_point=pd.Series(dtype="datetime64[ns]"))

    def on_day_31_only(t, v, lib):  # an alert at day 31's run on the one cut it ends (day 32's), never again
        n_days = (t[-1] - first) / np.timedelta64(1, "D")
        if 30 <= n_days < 32:
            return pd.DataFrame({"timestamp": [t[-1]], "direction": ["regression"]})
        return pd.DataFrame(columns=["timestamp", "direction"])

    series = [("a", ts, np.ones(len(ts)), True)]
    assert "retracted_alerts" not in run_morning(on_day_31_only, series, truth, meta)
    m = run_morning(on_day_31_only, series, truth, meta, list_retracted=True)
    assert m["retracted"] == 1
    ((sid, cut_time, alert, direction),) = m["retracted_alerts"]
    assert (sid, direction, alert) == ("a", "regression", ts[31]) and cut_time == first + np.timedelta64(32, "D")


def test_tuning_comparison_lists_the_series_that_changed_and_the_paired_difference(capsys):
    from bench.tuning import compare

    base = {"set": "tune", "n": 3, "whole": {"a": [1, 1, 1, 1], "b": [2, 1, 1, 1], "c": [0, 0, 0, 0]},
            "morning": {s: {"changes": 1, "found": 1, "new": 2, "retracted": 0} for s in "abc"}}
    run = {"set": "tune", "n": 3, "whole": {"a": [1, 1, 1, 1], "b": [2, 2, 2, 2], "c": [0, 0, 0, 0]},
           "morning": {**base["morning"], "c": {"changes": 1, "found": 1, "new": 2, "retracted": 1}}}
    compare(base, run)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "  b whole: found 1 -> 2 of 2, alerts 1 -> 2 (1 -> 2 true)"
    assert out[1] == "  c morning: found 1 -> 1 of 1, retracted 0 of 2 -> 1 of 2"
    # F1 2/3·... : base P 1, R 2/3 (F1 0.8); run P 1, R 1 (F1 1); retracted 0 of 6 -> 1 of 6
    assert out[2].startswith("paired change: F1 +0.2000 (")
    assert "morning found +0.0000" in out[2] and "morning retracted +0.1667" in out[2]
    with pytest.raises(SystemExit, match="tune2"):
        compare({**base, "set": "tune2"}, run)


def test_one_series_mornings_are_the_cuts_the_morning_view_scores():
    from bench import generate as gen
    from bench.morning import DAY, FIRST_CUT_DAY, STEP_DAYS
    from bench.tuning import main, series_mornings
    from regression_assets.stats.changepoint import ScanConfig, detect_changes

    s = gen.generate(QUALITY_SEED, 1, prefix="q")[0]  # one series of the quality floor's seed
    first = pd.Timestamp(np.datetime64(s.first_day, "ns"))
    since, until = first + pd.Timedelta(days=30), first + pd.Timedelta(days=36)
    cuts = series_mornings(s, ScanConfig(), since, until)
    # every STEP_DAYS-th day from FIRST_CUT_DAY on, both ends inclusive
    assert [c for c, _, _ in cuts] == [first + pd.Timedelta(DAY * d) for d in (30, 32, 34, 36)]
    assert (FIRST_CUT_DAY, STEP_DAYS) == (20, 2)
    for ct, k, alerts in cuts:
        assert s.timestamps[k - 1] < np.datetime64(ct) <= s.timestamps[k]  # the points before the cut
        expect = detect_changes(s.timestamps[:k], s.values[:k], s.lower_is_better)
        pd.testing.assert_frame_equal(alerts, expect)
    assert len(series_mornings(s, ScanConfig())) == len(range(FIRST_CUT_DAY, s.n_days + 1, STEP_DAYS))
    with pytest.raises(SystemExit, match="not in tune"):
        main(["tune", "--n", "2", "--series", "tune-0002"])
