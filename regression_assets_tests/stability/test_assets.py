"""The stability assets through Dagster, on real DuckDB files."""


import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb_pandas import DuckDBPandasIOManager

from regression_assets.partitions import stability_partitions
from regression_assets.stability import STABILITY_ASSETS, stability_resources_local
from regression_assets.stability.summary import summarize_stability_alerts

REAL = "/work/shared/data/missioncontrol/error_aggregates_sample.snappy.parquet"
SCHEMA = "regression_assets"


def _resources(tmp_path, path=""):
    return {
        "io_manager": DuckDBPandasIOManager(database=str(tmp_path / "w.duckdb"), schema=SCHEMA),
        **stability_resources_local(path),
    }


def _key(day, channel):
    return dg.MultiPartitionKey({"date": day, "channel": channel})


def _count(tmp_path, table, where="true"):
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        return con.execute(f"select count(*) from {SCHEMA}.{table} where {where}").fetchone()[0]


def _shifted_real_sample(tmp_path, day="2026-01-10"):
    """The 100 real 2017 rows, moved to a day inside the partitions (they start in 2025)."""
    src = tmp_path / "real"
    src.mkdir()
    df = pd.read_parquet(REAL)
    shift = pd.Timestamp(day) - df["window_start"].min().normalize()
    df["window_start"] += shift
    df["window_end"] += shift
    df.to_parquet(src / "error_aggregates.parquet")
    return src, df


def test_real_sample_flows_through_aggregates_and_rates(tmp_path):
    src, df = _shifted_real_sample(tmp_path)
    res = _resources(tmp_path, str(src))
    result = dg.materialize(
        STABILITY_ASSETS[:2], partition_key=_key("2026-01-10", "release"), resources=res,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = result.asset_materializations_for_node("crash_aggregates")[0].metadata
    n_release = int((df["channel"] == "release").sum())
    assert meta["rows_rejected"].value + _count(tmp_path, "crash_aggregates") <= n_release
    assert meta["rows_rejected"].value >= 1  # the real rows with zero usage
    assert _count(tmp_path, "crash_rates") > 0
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        r = con.execute(f"select * from {SCHEMA}.crash_rates").df()
    assert (r["usage_hours"] > 0).all() and {"crashes", "usage_hours", "rate_per_1k", "rate_lo95"} <= set(r.columns)
    assert r["is_first_24h"].all()  # no calendar: release = first window seen that day
    assert "startup_crashes" not in set(r["measure"])


def test_rematerialization_is_idempotent_and_bad_rows_not_fatal(tmp_path):
    src, df = _shifted_real_sample(tmp_path)
    df.loc[df.index[:3], "main_crashes"] = -1.0
    df["channel"] = "release"
    df.to_parquet(src / "error_aggregates.parquet")
    res = _resources(tmp_path, str(src))
    instance = dg.DagsterInstance.ephemeral()
    counts = []
    for _ in range(2):
        result = dg.materialize(STABILITY_ASSETS[:2], partition_key=_key("2026-01-10", "release"), resources=res, instance=instance)
        assert result.success
        meta = result.asset_materializations_for_node("crash_aggregates")[0].metadata
        assert meta["rejected_by_reason"].value["count: negative crash count"] == 3
        counts.append((_count(tmp_path, "crash_aggregates"), _count(tmp_path, "crash_rates")))
    assert counts[0] == counts[1] and counts[0][0] > 0


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_generated_sample_end_to_end(tmp_path):
    res = _resources(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    for start, end in (("2026-02-10", "2026-02-14"), ("2026-03-10", "2026-03-14")):
        result = dg.materialize(
            STABILITY_ASSETS[:2], resources=res, instance=instance,
            tags={"dagster/asset_partition_range_start": f"release|{start}", "dagster/asset_partition_range_end": f"release|{end}"},
        )
        assert result.success
    assert _count(tmp_path, "crash_aggregates") > 0
    for _ in range(2):  # twice: the partition's rows are replaced, not appended
        result = dg.materialize(
            STABILITY_ASSETS, selection=STABILITY_ASSETS[2:], partition_key=_key("2026-03-14", "release"),
            resources=res, instance=instance,
        )
        assert result.success
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        alerts = con.execute(f"select * from {SCHEMA}.stability_alerts").df()
    assert len(alerts) == 22  # 3 platforms × 7 measures + the channel score
    hit = alerts[alerts["status"] == "alert"]
    assert list(zip(hit["os_name"], hit["measure"], strict=True)) == [("Windows_NT", "main_crashes")]
    assert _count(tmp_path, "stability_trend") > 0
    text = summarize_stability_alerts(tmp_path / "w.duckdb")
    assert "1 alert(s)" in text and "main_crashes" in text and "148.0 vs 147.0" in text


def test_partitions_are_day_by_channel():
    assert stability_partitions.get_partition_keys()[0].keys_by_dimension["channel"] in {"release", "beta", "nightly"}
    assert {a.key.to_user_string() for a in STABILITY_ASSETS} == {
        "crash_aggregates", "crash_rates", "release_comparisons", "stability_alerts", "stability_trend"
    }
    assert all(a.group_names_by_key[a.key] == "stability" for a in STABILITY_ASSETS)
