"""The stability statistics on hand-made frames and on the generated multi-release sample (no Dagster)."""

import numpy as np
import pandas as pd
import pytest

from regression_assets.sources.crash_files import LocalCrashSource
from regression_assets.sources.crash_schema import CRASH_MEASURES, aggregate_crash_rows, validate_crash_rows
from regression_assets.stats import stability as S


def _synthetic_rates(ages_new: int) -> pd.DataFrame:
    """Two versions, one platform/measure, 1 crash per 1k h; the old one has 200 h of history."""
    rows = []
    for version, rel, n in (("old", pd.Timestamp("2026-01-01"), 200), ("new", pd.Timestamp("2026-02-01"), ages_new)):
        for a in range(n):
            t = rel + pd.Timedelta(hours=a)
            rows.append({"day": t.normalize(), "channel": "release", "os_name": "Linux", "version": version,
                         "measure": "main_crashes", "release_time": rel, "age_hour": a,
                         "crashes": 10.0 if a < 24 else 1.0 + a % 2, "usage_hours": 1000.0 + a})
    return pd.DataFrame(rows)


def test_equal_age_uses_the_previous_releases_first_days():
    rates = _synthetic_rates(72)  # new release out exactly 3 days
    day = pd.Timestamp("2026-02-03")
    out = S.compare_latest_release(rates, day, n_previous=3)
    single = out[out["reference"] == "single"].set_index("period")
    assert single.loc["after_24h", "age_lo"] == 24 and single.loc["after_24h", "age_hi"] == 72
    old = rates[(rates["version"] == "old") & (rates["age_hour"] >= 24) & (rates["age_hour"] < 72)]
    assert single.loc["after_24h", "ref_usage_hours"] == pytest.approx(old["usage_hours"].sum())
    assert single.loc["after_24h", "ref_crashes"] == pytest.approx(old["crashes"].sum())
    first = rates[(rates["version"] == "old") & (rates["age_hour"] < 24)]
    assert single.loc["first_24h", "ref_usage_hours"] == pytest.approx(first["usage_hours"].sum())
    # the same counts on both sides: no regression, whatever the early excess
    assert (out["ratio_median"] - 1).abs().max() < 0.15 and out["p_ratio_gt_threshold_adjusted"].max() < 0.75
    # a release younger than a day is judged on its first hours only, flagged
    young = S.compare_latest_release(_synthetic_rates(10), pd.Timestamp("2026-02-01"))
    assert set(young["period"]) == {"first_24h"} and (young["age_hi"] == 10).all()


@pytest.fixture(scope="module")
def sample_rates():
    """Hourly rates of the generated sample on just the days the checks below need."""
    src = LocalCrashSource()
    spans = {
        "release": [("2026-01-13", "2026-01-20"), ("2026-02-10", "2026-02-20"), ("2026-03-10", "2026-03-20"),
                    ("2026-04-07", "2026-04-17"), ("2026-05-05", "2026-05-15")],
        "nightly": [("2026-02-09", "2026-02-13"), ("2026-03-09", "2026-03-13"), ("2026-04-06", "2026-04-10"),
                    ("2026-05-04", "2026-05-08")],
        "beta": [("2026-01-13", "2026-01-17"), ("2026-02-10", "2026-02-14"), ("2026-03-10", "2026-03-14"),
                 ("2026-04-07", "2026-04-11")],
    }
    out = {}
    for channel, ranges in spans.items():
        cal = src.release_calendar(channel)
        frames = []
        for start, end in ranges:
            for day in pd.date_range(start, end):
                good, _ = validate_crash_rows(src.fetch_day(day.date(), channel))
                frames.append(S.hourly_rates(aggregate_crash_rows(good), cal, CRASH_MEASURES, day)[0])
        out[channel] = pd.concat(frames, ignore_index=True)
    return out


def _alerts(rates, day):
    return S.classify(S.compare_latest_release(rates, pd.Timestamp(day)))


@pytest.mark.parametrize(
    ("channel", "day", "version", "os_name", "measure"),
    [
        ("release", "2026-02-16", "147.0", "Darwin", "content_crashes"),
        ("release", "2026-03-16", "148.0", "Windows_NT", "main_crashes"),
        ("beta", "2026-04-11", "150.0", "Linux", "content_crashes"),
        ("nightly", "2026-04-10", "151.0a1", "Windows_NT", "main_crashes"),
    ],
)
def test_injected_regression_is_found_and_nothing_else(sample_rates, channel, day, version, os_name, measure):
    d = _alerts(sample_rates[channel], day)
    alerts = d[d["status"] == "alert"]
    assert list(zip(alerts["latest_version"], alerts["os_name"], alerts["measure"], strict=True)) == [
        (version, os_name, measure)
    ]
    assert alerts["ratio_lo80"].iloc[0] > 1.2


def test_equal_rate_release_is_not_flagged(sample_rates):
    total = 0
    for day in pd.date_range("2026-05-06", "2026-05-15"):
        d = _alerts(sample_rates["release"], day)
        assert (d["latest_version"] == "150.0").all() and len(d) == 21
        total += int((d["status"] == "alert").sum())
    assert total <= 1  # the bar; measured: 0


def test_low_usage_release_gives_insufficient_data(sample_rates):
    for day in ("2026-05-05", "2026-05-08"):
        d = _alerts(sample_rates["nightly"], day)
        assert (d["latest_version"] == "152.0a1").all()
        assert (d["status"] == "insufficient_data").all() and not (d["status"] == "alert").any()


def test_trend_and_scores(sample_rates):
    day = pd.Timestamp("2026-03-16")
    trend = S.release_trend(sample_rates["release"], day, n_versions=3)
    main = trend[trend["measure"] == "main_crashes"]
    assert list(main["version"]) == ["146.0", "147.0", "148.0"] and main["is_latest"].iloc[-1]
    assert (main["age_lo"] == 24).all()
    scores = S.channel_scores(_alerts(sample_rates["release"], day))
    assert len(scores) == 1 and np.isfinite(scores["ratio_median"].iloc[0])
