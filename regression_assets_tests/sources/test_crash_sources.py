import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest

from regression_assets.sources import crash_sample
from regression_assets.sources.crash_bigquery import (
    CRASH_DAY_SQL,
    build_crash_day_query,
    build_releases_query,
)
from regression_assets.sources.crash_files import LocalCrashSource
from regression_assets.sources.crash_schema import (
    CRASH_COLUMNS,
    aggregate_crash_rows,
    conform_crash_frame,
    validate_crash_rows,
)

REAL = "/work/shared/data/missioncontrol/error_aggregates_sample.snappy.parquet"


def test_real_sample_conforms():
    raw = pd.read_parquet(REAL)
    df = conform_crash_frame(raw, "real")
    assert list(df.columns) == list(CRASH_COLUMNS) and len(df) == 100
    assert df["main_crashes"].sum() == 2 and df["main_crashes"].notna().all()  # NaN inside = no event
    assert df["startup_crashes"].isna().all()  # the 2017 table has no such column
    good, bad = validate_crash_rows(df)
    assert (bad["reason"] == "usage_hours: zero usage").sum() == len(bad) >= 1
    assert len(aggregate_crash_rows(good)) <= len(good)


def test_local_source_reads_real_sample_and_first_seen(tmp_path):
    shutil.copy(REAL, tmp_path)
    src = LocalCrashSource(path=str(tmp_path))
    assert len(src.fetch_day(dt.date(2017, 6, 29))) == 100
    assert len(src.fetch_day(dt.date(2017, 6, 29), "beta")) == 8
    assert src.fetch_day(dt.date(2017, 6, 30)).empty
    cal = src.release_calendar("release")
    assert (cal["release_time"] == pd.Timestamp("2017-06-29 01:00")).all()


def test_bundled_sample_small_and_labelled():
    size = sum(p.stat().st_size for p in crash_sample.SAMPLE_DIR.iterdir())
    assert size < 5e6
    truth = crash_sample.load_truth()
    assert set(truth["kind"]) == {"regression", "equal_rate", "low_usage"}
    day = LocalCrashSource().fetch_day(dt.date(2026, 3, 11), "release")
    assert set(day["os_name"]) == {"Windows_NT", "Linux", "Darwin"} and (day["window_start"].dt.date == dt.date(2026, 3, 11)).all()


def test_generator_is_deterministic():
    a = crash_sample.generate(pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-06"))
    b = crash_sample.generate(pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-06"))
    pd.testing.assert_frame_equal(a["data"], b["data"])


def test_bad_rows_counted_not_fatal():
    df = conform_crash_frame(pd.read_parquet(REAL), "real")
    df.loc[0, "main_crashes"] = -2
    df.loc[1, "usage_hours"] = np.nan
    good, bad = validate_crash_rows(df)
    assert "count: negative crash count" in set(bad["reason"]) and "usage_hours: NaN or infinite" in set(bad["reason"])
    assert len(good) + len(bad) == 100


def test_bigquery_query_is_parameterised():
    sql, cfg = build_crash_day_query(dt.date(2026, 3, 1), "beta")
    params = {p.name: p for p in cfg.query_parameters}
    assert set(params) == {"day_start", "day_end", "channel", "application"}
    assert params["day_end"].value - params["day_start"].value == dt.timedelta(days=1)
    assert "beta" not in sql and "2026" not in sql and "@day_start" in sql and "experiment_id IS NULL" in sql
    assert "SUM(main_crashes) AS main_crashes" in CRASH_DAY_SQL
    sql, cfg = build_releases_query(dt.date(2026, 3, 1), 100)
    assert "@since" in sql
    with pytest.raises(ValueError):
        build_crash_day_query(dt.date(2026, 3, 1), table="x`; DROP TABLE y; --")
