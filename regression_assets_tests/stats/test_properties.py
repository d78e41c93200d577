"""Property tests of the statistics on arbitrary inputs (hypothesis, the deterministic profile of conftest).

What must hold whatever the data: the detectors and the outlier rule never crash on finite, NaN, infinite,
zero, negative or huge values, in any order, and always answer in their documented shape; the % changes
do not depend on the unit of the series; crash rates and their intervals are never negative and their
probabilities stay in [0, 1]; no exposure means no rate (NaN), never a confident ratio.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from regression_assets.stats import rates as R
from regression_assets.stats.changepoint import RESULT_COLUMNS, detect_changes
from regression_assets.stats.compare import compare, reference_days
from regression_assets.stats.detectors import SCALE_CHANGE, is_scale_change, label_scale_changes
from regression_assets.stats.mixture import demode, fit_modes
from regression_assets.stats.outliers import flag_outliers, robust_z
from regression_assets.stats.perfherder import perfherder_changes
from regression_assets.stats.series import clean_points

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DIRECTIONS = {"regression", "improvement", SCALE_CHANGE}

# Any float a file or a source can hand over: ordinary values, 0, negatives, huge, tiny, NaN, ±inf.
ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1e9, 1e-300, 1e300, np.nan, np.inf, -np.inf]),
    st.floats(min_value=90, max_value=110),
)


@st.composite
def series(draw, values=ANY_FLOAT, min_size=0, max_size=120):
    """(timestamps, values): hourly-ish times with repeats (retriggers), in any order."""
    n = draw(st.integers(min_size, max_size))
    vals = np.asarray(draw(st.lists(values, min_size=n, max_size=n)), dtype=float)
    steps = draw(st.lists(st.sampled_from([0, 1, 1, 1, 6, 24, 24 * 30]), min_size=n, max_size=n))
    hours = np.cumsum(np.asarray(steps, dtype=np.int64))
    ts = (np.datetime64("2026-01-01T00:00:00", "ns") + hours.astype("timedelta64[h]")).astype("datetime64[ns]")
    if draw(st.booleans()) and n > 1:
        perm = np.asarray(draw(st.permutations(list(range(n)))))
        ts, vals = ts[perm], vals[perm]
    return ts, vals


@st.composite
def step_series(draw):
    """A noisy positive series with a step of -30..+30 % somewhere (what the scale property runs on)."""
    n = draw(st.integers(20, 120))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    base = draw(st.floats(1.0, 1e4))
    noise = draw(st.floats(0.001, 0.05))
    at = draw(st.integers(5, n - 5))
    pct = draw(st.floats(-30.0, 30.0))
    x = base * np.exp(rng.normal(0.0, noise, n))
    x[at:] *= 1.0 + pct / 100.0
    ts = (np.datetime64("2026-01-01T00:00:00", "ns")
          + (np.arange(n) * 6).astype("timedelta64[h]")).astype("datetime64[ns]")
    return ts, x


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kw)


# -------------------------------------------------------------------------------- change detection


@FAST
@given(series(), st.booleans())
def test_detect_changes_never_crashes_and_keeps_its_shape(data, lower_is_better):
    ts, x = data
    out = _quiet(detect_changes, ts, x, lower_is_better)
    assert list(out.columns) == RESULT_COLUMNS
    if len(out):
        assert set(out["direction"]) <= DIRECTIONS
        assert out["probability"].between(0.0, 1.0).all()
        assert np.isfinite(out["magnitude_pct"].to_numpy(dtype=float)).all()
        assert set(pd.to_datetime(out["timestamp"])) <= set(pd.to_datetime(ts))
        # a change is a regression / improvement only below the scale-change factor
        plain = out[out["direction"] != SCALE_CHANGE]
        assert not is_scale_change(plain["magnitude_pct"].to_numpy(dtype=float)).any()


@FAST
@given(series(values=st.floats(1.0, 1e6)))
def test_detect_changes_does_not_depend_on_row_order(data):
    ts, x = data
    order = np.argsort(ts, kind="stable")
    a = _quiet(detect_changes, ts, x)
    b = _quiet(detect_changes, ts[order], x[order])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@FAST
@given(step_series(), st.integers(-20, 20), st.booleans())
def test_magnitude_pct_is_scale_invariant(data, log2_factor, lower_is_better):
    """Milliseconds or seconds, bytes or KiB: the same changes, at the same times, of the same size."""
    ts, x = data
    c = 2.0**log2_factor  # exact in binary: c * x changes no digit of x
    a = _quiet(detect_changes, ts, x, lower_is_better)
    b = _quiet(detect_changes, ts, c * x, lower_is_better)
    assert a["timestamp"].tolist() == b["timestamp"].tolist()
    assert a["direction"].tolist() == b["direction"].tolist()
    np.testing.assert_allclose(a["magnitude_pct"].to_numpy(float), b["magnitude_pct"].to_numpy(float),
                               rtol=1e-6, atol=1e-6)


@FAST
@given(series(values=st.floats(-1e6, 1e6)), st.booleans())
def test_perfherder_never_crashes_on_finite_values(data, lower_is_better):
    ts, x = data
    out = _quiet(perfherder_changes, ts, x, lower_is_better)
    assert {"timestamp", "direction", "magnitude_pct", "probability"} <= set(out.columns)
    assert out["probability"].between(0.0, 1.0).all()


def test_perfherder_refuses_nan_with_a_clear_error():
    ts = pd.date_range("2026-01-01", periods=30, freq="h").to_numpy()
    x = np.full(30, 100.0)
    x[7] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        perfherder_changes(ts, x, True)


@FAST
@given(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=10), st.booleans())
def test_scale_change_labels_only_the_50x_changes(pcts, lower_is_better):
    out = label_scale_changes(pd.DataFrame({"direction": "regression", "magnitude_pct": pcts}))
    ratio = 1 + np.asarray(pcts, dtype=float) / 100
    expect = (ratio >= 50) | (ratio <= 1 / 50)
    assert ((out["direction"] == SCALE_CHANGE).to_numpy() == expect).all()


# -------------------------------------------------------------------------------- outliers, cleaning, modes


@FAST
@given(st.lists(ANY_FLOAT, max_size=80), st.integers(1, 40))
def test_outlier_flags_never_crash(values, window):
    x = np.asarray(values, dtype=float)
    z = _quiet(robust_z, x, window)
    flags = _quiet(flag_outliers, x, 5.0, window)
    assert z.shape == x.shape and flags.shape == x.shape and flags.dtype == bool
    assert not flags[np.isnan(x)].any()  # a missing value is not an outlier: it is missing


@FAST
@given(st.lists(st.floats(1.0, 1e6), min_size=5, max_size=80), st.floats(1e-3, 1e3))
def test_outlier_flags_are_scale_invariant_on_log_values(values, c):
    """clean_points works on log values: multiplying a series by c shifts them, flagging the same points."""
    x = np.asarray(values, dtype=float)
    ts = pd.date_range("2026-01-01", periods=len(x), freq="h").to_numpy()
    a = clean_points(ts, x)
    b = clean_points(ts, x * c)
    z_a = a["robust_z"].to_numpy()
    decided = np.abs(np.abs(z_a) - 5.0) > 1e-6 * np.maximum(1.0, np.abs(z_a))  # not on the threshold
    assume(np.isfinite(z_a).all() and np.abs(z_a).max() < 1e6)  # not a degenerate constant series
    assert (a["is_outlier"].to_numpy()[decided] == b["is_outlier"].to_numpy()[decided]).all()


@FAST
@given(series())
def test_clean_points_marks_exactly_the_unusable_values(data):
    ts, x = data
    pts = _quiet(clean_points, ts, x)
    v = pts["value"].to_numpy()
    assert (pts["invalid"].to_numpy() == (~np.isfinite(v) | (v <= 0))).all()
    assert not pts.loc[pts["invalid"], "is_outlier"].any()
    assert pts["timestamp"].is_monotonic_increasing


@FAST
@given(st.lists(st.floats(-1e6, 1e6), max_size=150))
def test_mode_fit_never_crashes(values):
    fit = _quiet(fit_modes, np.asarray(values, dtype=float))
    assert fit.n_modes >= 1 and len(fit.weights) == fit.n_modes
    assert abs(sum(fit.weights) - 1.0) < 1e-6
    x, n = _quiet(demode, np.asarray(values, dtype=float))
    assert len(x) == len(values) and n >= 1


# -------------------------------------------------------------------------------- comparisons


@FAST
@given(st.integers(0, 2**31 - 1), st.floats(1e-6, 1e6), st.booleans())
def test_comparison_pct_is_scale_invariant(seed, c, lower_is_better):
    rng = np.random.default_rng(seed)
    days = pd.date_range("2026-01-01", periods=20)
    draws = np.exp(rng.normal(4.0, 0.05, (200, 20)))
    a = compare(draws, days, days[-1], days[5], "x", lower_is_better)
    b = compare(draws * c, days, days[-1], days[5], "x", lower_is_better)
    assert a.p_worse == pytest.approx(b.p_worse, abs=0.011)  # ties may flip one draw in a hundred
    assert a.median_pct == pytest.approx(b.median_pct, rel=1e-6, abs=1e-6)
    assert 0.0 <= a.p_worse <= 1.0 and a.lo80_pct <= a.median_pct <= a.hi80_pct


@FAST
@given(st.lists(st.tuples(st.one_of(st.integers(1, 200).map(str), st.just("beta"), st.none()),
                          st.one_of(st.dates(pd.Timestamp("2020-01-01").date(), pd.Timestamp("2030-01-01").date()),
                                    st.none(), st.just("not a date"))), max_size=12),
       st.dates(pd.Timestamp("2020-01-01").date(), pd.Timestamp("2030-01-01").date()))
def test_reference_days_never_crash_and_never_point_forward(rows, target):
    cal = pd.DataFrame(rows, columns=["version", "release_date"])
    refs = reference_days(pd.Timestamp(target), cal)
    assert [r[0] for r in refs[:2]] == ["7d", "14d"]
    assert all(day < pd.Timestamp(target) for _, day in refs)


# -------------------------------------------------------------------------------- crash rates

COUNTS = hnp.arrays(float, st.integers(1, 30), elements=st.floats(0, 1e6))


@FAST
@given(st.data())
def test_rates_are_never_negative_and_intervals_are_ordered(data):
    k = data.draw(COUNTS)
    u = data.draw(hnp.arrays(float, len(k), elements=st.one_of(st.just(0.0), st.floats(1e-3, 1e9))))
    phi = data.draw(st.floats(0.0, 100.0))
    s = _quiet(R.rate_summary, k, u, dispersion=phi)
    has = u > 0
    assert np.isnan(s["rate"][~has]).all()  # no usage, no rate
    for key in ("rate", "median", "lo", "hi"):
        assert (s[key][has] >= 0).all()
    assert (s["lo"][has] <= s["median"][has] * (1 + 1e-9) + 1e-12).all()
    assert (s["median"][has] <= s["hi"][has] * (1 + 1e-9) + 1e-12).all()


@FAST
@given(st.data())
def test_ratio_posterior_probabilities_and_no_exposure(data):
    n = data.draw(st.integers(1, 20))
    elems = st.one_of(st.floats(0, 1e6), st.just(0.0), st.just(-1.0), st.just(np.nan), st.just(np.inf))
    k1, u1, k2, u2 = (data.draw(hnp.arrays(float, n, elements=elems)) for _ in range(4))
    out = _quiet(R.ratio_posterior, k1, u1, k2, u2, threshold=data.draw(st.floats(0.5, 3.0)))
    valid = (u1 > 0) & (u2 > 0) & (k1 >= 0) & (k2 >= 0) & np.isfinite(k1 + k2 + u1 + u2)
    p = out["p_gt"]
    assert np.isnan(p[~valid]).all() and np.isnan(out["median"][~valid]).all()
    assert ((p[valid] >= 0) & (p[valid] <= 1)).all()
    lo, med, hi = out["lo"][valid], out["median"][valid], out["hi"][valid]
    ok = np.isfinite(lo) & np.isfinite(hi)
    assert (lo[ok] >= 0).all() and (lo[ok] <= med[ok] * (1 + 1e-9)).all() and (med[ok] <= hi[ok] * (1 + 1e-9)).all()


@FAST
@given(COUNTS, st.floats(0.0, 0.5))
def test_dispersion_at_least_one_and_trim_keeps_the_most(k, fraction):
    u = np.full(len(k), 100.0)
    assert R.pearson_dispersion(k, u) >= 1.0
    keep = R.trim_top_fraction(k / u, fraction)
    assert keep.sum() >= np.ceil(len(k) * (1 - fraction) - 1e-9)


@FAST
@given(hnp.arrays(float, st.integers(0, 12), elements=st.one_of(st.floats(-50, 50), st.just(np.nan))),
       st.floats(1e-6, 10), st.floats(1.01, 5.0), st.floats(1e-6, 1 - 1e-6))
def test_spike_slab_probabilities_in_range(y, var, threshold, prior):
    out = _quiet(R.spike_slab_exceedance, y, var, threshold, prior)
    p, w = out["p_gt"], out["p_change"]
    fin = np.isfinite(y)
    assert np.isnan(p[~fin]).all()
    assert ((p[fin] >= 0) & (p[fin] <= w[fin] + 1e-12) & (w[fin] <= 1)).all()


@FAST
@given(hnp.arrays(float, st.integers(0, 10), elements=st.one_of(st.floats(-10, 10), st.just(np.nan))),
       hnp.arrays(float, 10, elements=st.one_of(st.floats(0, 5), st.just(np.nan))))
def test_trend_slope_never_crashes(means, variances):
    out = _quiet(R.trend_slope, means, variances[: len(means)])
    assert np.isnan(out["p_worsening"]) or 0.0 <= out["p_worsening"] <= 1.0


@FAST
@given(st.data())
def test_hourly_rates_are_non_negative_and_account_for_every_crash(data):
    from regression_assets.stats.stability import hourly_rates

    n = data.draw(st.integers(1, 40))
    start = pd.Timestamp("2026-03-01")
    aggs = pd.DataFrame({
        "window_start": start + pd.to_timedelta(
            5 * np.asarray(data.draw(st.lists(st.integers(0, 287), min_size=n, max_size=n))), unit="min"),
        "channel": "release", "version": data.draw(st.lists(st.sampled_from(["150.0", "151.0"]), min_size=n,
                                                            max_size=n)),
        "build_id": "b", "os_name": data.draw(st.lists(st.sampled_from(["Linux", "Darwin"]), min_size=n, max_size=n)),
        # validated rows (validate_crash_rows drops zero usage before the rates are computed)
        "usage_hours": data.draw(st.lists(st.floats(1e-3, 1e5), min_size=n, max_size=n)),
        "main_crashes": data.draw(st.lists(st.floats(0.0, 1e4), min_size=n, max_size=n)),
    })
    cal = pd.DataFrame({"channel": ["release"], "version": ["151.0"], "release_time": [start - pd.Timedelta(days=2)]})
    rates, info = _quiet(hourly_rates, aggs, cal, ["main_crashes"], start)
    for col in ("crashes", "usage_hours", "rate_per_1k", "rate_median", "rate_lo95", "rate_hi95"):
        assert (rates[col].dropna() >= 0).all(), col
    total = rates["crashes"].sum() + rates["crashes_trimmed"].sum()
    assert total == pytest.approx(aggs["main_crashes"].sum(), rel=1e-9, abs=1e-6)  # kept + trimmed = all
    assert rates["usage_hours"].sum() + rates["usage_hours_trimmed"].sum() == pytest.approx(aggs["usage_hours"].sum())
    assert info["windows"] == len(aggs.drop_duplicates(["window_start", "version", "os_name"]))
