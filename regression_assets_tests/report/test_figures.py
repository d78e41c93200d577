"""The plotly figures: what each one shows, on synthetic series and crash rates."""

import numpy as np
import pandas as pd

from regression_assets.report.figures import (
    INSUFFICIENT,
    binned_rates,
    comparison_figure,
    series_figure,
    series_layers,
    stability_figure,
)
from regression_assets.stats.compare import pct_change_draws
from regression_assets_tests.report.conftest import DAY, make_rates


def _trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace {name!r} in {[t.name for t in fig.data]}"
    return found[0]


def test_series_figure_shows_points_outliers_bands_alert_and_compared_days(step_series):
    s = step_series
    fig = series_figure(s["points"], s["days"], s["draws"], s["rows"], s["modes"], target=DAY)
    names = {t.name for t in fig.data}
    assert {"90% band", "50% band", "posterior median", "points", "outliers (ignored)", "today", "compared days",
            "change point"} <= names
    assert "2 modes" in fig.layout.title.text and "noise: modal" in fig.layout.title.text

    assert len(_trace(fig, "points").x) == int((~s["points"]["is_outlier"]).sum())
    assert len(_trace(fig, "outliers (ignored)").x) == int(s["points"]["is_outlier"].sum()) == 3
    median = np.median(s["draws"], axis=0)
    np.testing.assert_allclose(np.asarray(_trace(fig, "posterior median").y, float), median, rtol=1e-6)

    refs = _trace(fig, "compared days")
    assert {pd.Timestamp(x) for x in refs.x} == set(pd.to_datetime(s["rows"]["reference_day"]))
    assert "7d" in " ".join(refs.text) and "version 147" in " ".join(refs.text)
    today = _trace(fig, "today")
    assert pd.Timestamp(today.x[0]) == DAY
    change = _trace(fig, "change point")
    assert pd.Timestamp(change.x[0]).normalize() == pd.Timestamp("2026-03-05")
    assert change.marker.color[0] == "#c0392b"  # a regression is drawn red


def test_outliers_do_not_flatten_the_picture(step_series):
    s = step_series
    layers = series_layers(s["points"], s["days"], s["draws"], s["rows"], s["modes"], target=DAY)
    lo, hi = layers.y_range
    assert hi < 110 and lo > 90  # the level is 100 → 105; the 60-sd outliers are at ~130
    assert layers.outliers["off_scale"].all()
    assert layers.outliers["shown_value"].between(lo, hi).all()
    assert "3 off scale" in layers.notes[0]


def test_series_figure_without_rows_or_modes():
    days = pd.date_range("2026-03-01", periods=5)
    draws = np.full((10, 5), 50.0, dtype="float32")
    points = pd.DataFrame({"timestamp": days, "value": 50.0, "is_outlier": False, "invalid": False})
    fig = series_figure(points, days, draws, None, None)
    assert "modes: n/a" in fig.layout.title.text
    assert "compared days" not in {t.name for t in fig.data}


def test_comparison_figure_is_the_pct_change_draws_per_reference(step_series):
    s = step_series
    rows = pd.concat([s["rows"], pd.DataFrame([{
        "reference": "scan", "reference_day": DAY - pd.Timedelta(days=2), "p_worse": 0.9, "median_pct": 4.0,
        "lo80_pct": 3.0, "hi80_pct": 5.5, "is_alert": True, "direction": "regression"}])], ignore_index=True)
    fig = comparison_figure(s["days"], s["draws"], rows, DAY)
    violins = [t for t in fig.data if t.type == "violin"]
    assert len(violins) == len(s["rows"])
    idx = {d: i for i, d in enumerate(s["days"])}
    first = s["rows"].iloc[0]
    expected = pct_change_draws(s["draws"].astype(float), idx[DAY], idx[pd.Timestamp(first["reference_day"])])
    np.testing.assert_allclose(np.asarray(violins[0].y, float), expected)
    alerting = s["rows"]["is_alert"].to_numpy()
    assert [v.line.color == "#c0392b" for v in violins] == list(alerting)
    scan = [t for t in fig.data if t.type == "scatter"]
    assert len(scan) == 1 and scan[0].error_y.array[0] == 1.5 and scan[0].error_y.arrayminus[0] == 1.0


def test_binned_rates_sum_platforms_and_flag_thin_bins():
    rates = make_rates()
    main = rates[rates["measure"] == "main_crashes"]
    b = binned_rates(main, bin_hours=24, min_usage_hours=1000, min_events=10)
    cell = main[(main["version"] == "148.0") & (main["age_hour"] < 24)]
    row = b[(b["version"] == "148.0") & (b["age_lo"] == 0)].iloc[0]
    assert row["crashes"] == cell["crashes"].sum() and row["usage_hours"] == cell["usage_hours"].sum()
    assert row["rate"] == row["crashes"] / row["usage_hours"] * 1000
    assert row["lo"] < row["rate"] < row["hi"]
    thin = binned_rates(main[main["os_name"] == "Linux"], 6, min_usage_hours=1000, min_events=10)
    assert thin["thin"].all()  # 40 usage hours an hour: never 1,000 in 6 hours


def test_stability_figure_hover_has_counts_never_a_bare_rate():
    rates = make_rates()
    main = rates[rates["measure"] == "main_crashes"]
    fig = stability_figure(main, ["148.0", "147.0"], "release · main_crashes", max_age_hours=50)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["148.0 (latest)", "147.0 (previous)"]
    for t in lines:
        assert len(t.hovertext) == len(t.x) > 0
        assert all("crashes in" in h and "usage hours" in h and "per 1k h" in h for h in t.hovertext)
    assert max(max(t.x) for t in lines) < 50 + 6  # bin midpoints of 6-hour bins below the age cut
    bands = [t for t in fig.data if t.fill == "tonexty"]
    assert len(bands) == 2  # one interval band per version


def test_stability_figure_marks_insufficient_data():
    rates = make_rates()
    linux = rates[(rates["measure"] == "content_crashes") & (rates["os_name"] == "Linux")]
    fig = stability_figure(linux, ["148.0", "147.0"], "release · content_crashes", status="insufficient_data",
                           reason="Linux: usage < 1,000 h or events < 10")
    texts = [a.text for a in fig.layout.annotations]
    assert any(INSUFFICIENT in t and "Linux" in t for t in texts)
    line = [t for t in fig.data if t.mode == "lines+markers"][0]
    assert set(line.marker.symbol) == {"circle-open"}
    assert all(INSUFFICIENT in h for h in line.hovertext)


def test_stability_figure_without_data():
    fig = stability_figure(pd.DataFrame(columns=["version", "age_hour"]), ["150.0"], "nightly · main_crashes")
    assert any("no usage" in a.text for a in fig.layout.annotations)
    assert fig.data[0].name.endswith("no data")
