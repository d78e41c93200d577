"""Conformance of the Perfherder port with Treeherder's own pinned results, and fast == reference."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regression_assets.sources.talos import TALOS_FILES, expected_perfherder_changes, read_test_runs
from regression_assets.stats.perfherder import (
    RevisionDatum,
    analyze,
    calc_t,
    changed_push_timestamps,
    default_weights,
    detect_changes,
    linear_weights,
    perfherder_changes,
    t_to_probability,
)

EXPECTED = expected_perfherder_changes()
DAY_NS = 86_400 * 10**9


def _ts(seconds) -> np.ndarray:
    return (np.asarray(seconds, dtype=np.int64) * 10**9).astype("datetime64[ns]")


def _talos(name):
    runs = read_test_runs(name)
    return _ts([r[2] for r in runs]), np.asarray([r[3] for r in runs], dtype=float)


# ---------------------------------------------------------------- Treeherder's unit tests, ported


def _d(values):
    return [RevisionDatum(i, i, [v]) for i, v in enumerate(values)]


def test_analyze_matches_treeherder():
    assert analyze([]) == {"avg": 0.0, "n": 0, "variance": 0.0}
    assert analyze(_d([3.0])) == {"avg": 3.0, "n": 1, "variance": 0.0}
    assert analyze(_d([1.0, 2.0, 3.0, 4.0])) == {"avg": 2.5, "n": 4, "variance": 5.0 / 3.0}
    assert analyze(_d([1.0, 2.0, 3.0, 4.0]), linear_weights) == {"avg": 2.0, "n": 4, "variance": 2.0}


def test_weights_match_treeherder():
    assert [default_weights(i, 5) for i in range(5)] == [1.0] * 5
    assert [linear_weights(i, 5) for i in range(5)] == [1.0, 0.8, 0.6, 0.4, 0.2]


def test_calc_t_matches_treeherder():
    assert calc_t(_d([0.0, 0.0]), _d([1.0, 2.0])) == 3.0
    assert calc_t(_d([0.0, 0.0]), _d([0.0, 0.0])) == 0.0
    assert calc_t(_d([0.0, 0.0]), _d([1.0, 1.0])) == float("inf")


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_detect_changes_small_windows(engine):
    # Treeherder's test_detect_changes: a 0 -> 1 step at index 8, windows of 5, t > 2
    values = [0.0] * 8 + [1.0] * 8
    if engine == "reference":
        res = detect_changes(_d(values), min_back_window=5, max_back_window=5, fore_window=5, t_threshold=2)
        flagged = [d.push_timestamp for d in res if d.change_detected]
    else:
        out = perfherder_changes(_ts(range(16)), np.asarray(values), min_back_window=5, max_back_window=5,
                                 fore_window=5, t_threshold=2, magnitude_gate_pct=0.0)
        flagged = [int(x) // 10**9 for x in out["timestamp"].to_numpy().astype(np.int64)]
    assert flagged == [8]


# ---------------------------------------------------------------- conformance on real Talos series


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("name", TALOS_FILES)
def test_talos_conformance_before_gate(name, engine):
    assert changed_push_timestamps(read_test_runs(name), engine=engine) == EXPECTED[name]


def test_expected_file_covers_the_seven_files():
    assert sorted(EXPECTED) == sorted(TALOS_FILES)
    assert sum(len(v) for v in EXPECTED.values()) == 12


def test_magnitude_gate_keeps_9_of_12():
    kept = 0
    for name in TALOS_FILES:
        ts, v = _talos(name)
        gated = perfherder_changes(ts, v)  # 2 % gate
        ungated = perfherder_changes(ts, v, magnitude_gate_pct=0.0)
        assert len(ungated) == len(EXPECTED[name])
        assert set(gated["timestamp"]) <= set(ungated["timestamp"])
        assert (gated["magnitude_pct"].abs() >= 2.0).all()
        dropped = ungated[~ungated["timestamp"].isin(gated["timestamp"])]
        assert (dropped["magnitude_pct"].abs() < 2.0).all()
        kept += len(gated)
    assert kept == 9


def test_grouping_same_timestamp_into_one_push():
    # runs2.json has rows sharing a push timestamp; grouped pushes still give the pinned result, and a
    # series whose every point is duplicated behaves like one push of two values per timestamp
    runs = read_test_runs("runs2.json")
    ts = [r[2] for r in runs]
    assert len(set(ts)) < len(ts)
    t, v = _talos("runs1.json")
    doubled = perfherder_changes(np.repeat(t, 2), np.repeat(v, 2), magnitude_gate_pct=0.0, engine="reference")
    fast = perfherder_changes(np.repeat(t, 2), np.repeat(v, 2), magnitude_gate_pct=0.0)
    pd.testing.assert_series_equal(doubled["timestamp"], fast["timestamp"])


def test_input_order_does_not_matter():
    t, v = _talos("a11y.json")
    perm = np.random.default_rng(3).permutation(len(t))
    a = perfherder_changes(t, v)
    b = perfherder_changes(t[perm], v[perm])
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------- behaviour on synthetic series


def _step(n=80, at=40, base=100.0, pct=10.0, sd=1.0, seed=0):
    rng = np.random.default_rng(seed)
    v = base + rng.normal(0, sd, n)
    v[at:] *= 1 + pct / 100
    return _ts(np.arange(n) * 3600), v


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize(
    ("pct", "lower_is_better", "direction"),
    [(10.0, True, "regression"), (-10.0, True, "improvement"), (10.0, False, "improvement"), (-10.0, False, "regression")],
)
def test_direction_on_a_step(pct, lower_is_better, direction, engine):
    t, v = _step(pct=pct)
    out = perfherder_changes(t, v, lower_is_better, engine=engine)
    assert list(out.columns) == ["timestamp", "direction", "magnitude_pct", "probability", "t_value", "prev_mean",
                                 "new_mean"]
    assert len(out) == 1
    row = out.iloc[0]
    assert row["timestamp"] == t[40]
    assert row["direction"] == direction
    assert np.sign(row["magnitude_pct"]) == np.sign(pct)
    assert abs(row["magnitude_pct"] - pct) < 2.0
    assert 0.5 < row["probability"] <= 1.0
    assert row["t_value"] > 7
    assert out["timestamp"].dtype == "datetime64[ns]"


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("level", [300.0, 1.0, 123.456])
def test_flat_series_gives_nothing(level, engine):
    t = _ts(np.arange(200) * 60)
    assert perfherder_changes(t, np.full(200, level), engine=engine, magnitude_gate_pct=0.0).empty


def test_noise_only_series_gives_nothing():
    t = _ts(np.arange(500) * 60)
    v = 100 + np.random.default_rng(7).normal(0, 1, 500)
    assert perfherder_changes(t, v).empty


def test_short_and_empty_series():
    for n in (0, 1, 5, 23):
        t, v = _step(n=n, at=n // 2)
        assert perfherder_changes(t, v).empty


def test_reference_rounding_noise_on_flat_windows():
    """Treeherder's linearly weighted mean of equal values is not exact, so on a flat series its t is
    rounding noise (~5) rather than 0; the fast kernel treats constant windows exactly."""
    res = detect_changes([RevisionDatum(i, i, [0.1]) for i in range(100)])
    assert max(d.t for d in res) > 1.0
    assert not any(d.change_detected for d in res)


def test_probability_transform():
    p = t_to_probability([0.0, 7.0, 21.0, 63.0, np.inf])
    np.testing.assert_allclose(p, [0.0, 0.5, 0.75, 0.9, 1.0])


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        perfherder_changes(_ts([1, 2]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError):
        perfherder_changes(_ts([1, 2]), np.array([1.0]))
    with pytest.raises(ValueError):
        perfherder_changes(_ts([1, 2]), np.array([1.0, 2.0]), engine="nope")


# ---------------------------------------------------------------- fast kernel == reference


def _compare(t, v, **kw):
    a = perfherder_changes(t, v, magnitude_gate_pct=0.0, engine="fast", **kw)
    b = perfherder_changes(t, v, magnitude_gate_pct=0.0, engine="reference", **kw)
    pd.testing.assert_series_equal(a["timestamp"], b["timestamp"])
    np.testing.assert_allclose(a["t_value"], b["t_value"], rtol=1e-9)
    np.testing.assert_allclose(a["prev_mean"], b["prev_mean"], rtol=1e-12)
    np.testing.assert_allclose(a["new_mean"], b["new_mean"], rtol=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_fast_equals_reference_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 300))
    # some seeds put several points on one timestamp (multi-value pushes)
    spacing = 1 if seed % 3 else 0
    ts = np.sort(rng.integers(0, n * (2 if spacing == 0 else 10), n))
    level = 100 + np.cumsum(rng.random(n) < 0.03) * rng.normal(0, 6)
    v = level + rng.normal(0, 1 + 4 * (seed % 2), n)
    if seed % 4 == 0:
        v = np.round(v)  # ties and repeated values, as in Talos data
    _compare(_ts(ts), v)


@pytest.mark.parametrize("windows", [(5, 5, 5), (12, 24, 12), (3, 30, 8), (20, 10, 4)])
def test_fast_equals_reference_other_windows(windows):
    mb, xb, fw = windows
    t, v = _talos("a11y.json")
    _compare(t, v, min_back_window=mb, max_back_window=xb, fore_window=fw, t_threshold=5)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(2, 120),
    dup=st.floats(0.0, 0.6),
    step=st.floats(-30, 30),
)
def test_fast_equals_reference_property(seed, n, dup, step):
    rng = np.random.default_rng(seed)
    gaps = (rng.random(n) >= dup).astype(np.int64)  # 0 gap = same push as the previous point
    ts = np.cumsum(gaps)
    v = 50 + rng.normal(0, 2, n)
    v[n // 2 :] += step
    _compare(_ts(ts), v)
