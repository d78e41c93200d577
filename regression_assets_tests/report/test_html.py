"""The HTML page, the per-partition alert metadata, and the `regression_report` asset on a real DuckDB file."""

import base64
import io
import re

import dagster as dg
import duckdb
import pandas as pd
import pytest
from PIL import Image

from regression_assets.io_managers import DuckDBTableIOManager, ParquetDrawsIOManager
from regression_assets.report.assets import regression_report
from regression_assets.report.html import SeriesInputs, build_report, rank_alerts, report_path, write_report
from regression_assets.report.metadata import alert_partition_metadata
from regression_assets_tests.report.conftest import DAY

PLOTLY_JS_BANNER = re.compile(r"\* plotly\.js v\d+\.\d+\.\d+")


def _series(report_inputs) -> dict[str, SeriesInputs]:
    return {s["key"]: SeriesInputs(s["points"], s["days"], s["draws"], s["modes"]) for s in report_inputs["series"]}


def test_rank_alerts_puts_regressions_first_then_by_magnitude_times_probability():
    rows = pd.DataFrame([
        {"series_key": "small_reg", "direction": "regression", "median_pct": 2.5, "p_worse": 0.99},
        {"series_key": "big_imp", "direction": "improvement", "median_pct": -9.0, "p_worse": 0.01},
        {"series_key": "big_reg", "direction": "regression", "median_pct": 6.0, "p_worse": 0.85},
        {"series_key": "big_reg", "direction": "regression", "median_pct": 4.0, "p_worse": 0.95},
        {"series_key": "quiet", "direction": "", "median_pct": 8.0, "p_worse": 0.5},
    ]).assign(is_alert=lambda d: d["direction"] != "", reference="7d", reference_day=DAY, change_timestamp=DAY,
              suite="s", platform="p", alert_id="x")
    ranked = rank_alerts(rows)
    assert ranked["series_key"].tolist() == ["big_reg", "small_reg", "big_imp"]
    big = ranked.iloc[0]
    assert big["magnitude_pct"] == 6.0 and big["probability"] == 0.95
    assert big["severity"] == pytest.approx(6.0 * 0.95)
    assert ranked.iloc[2]["probability"] == pytest.approx(0.99)  # P(better) of the improvement
    assert rank_alerts(pd.DataFrame()).empty


def test_page_is_self_contained_with_plotly_once(report_inputs):
    report = build_report(DAY, report_inputs["alerts"], _series(report_inputs), report_inputs["rates"],
                          report_inputs["stability_alerts"])
    page = report.html
    assert report.alerts == 2 and report.plots == 6
    assert len(PLOTLY_JS_BANNER.findall(page)) == 1  # plotly.js inline, once
    assert page.count("Plotly.newPlot(") == report.plots
    # Nothing to fetch: no external script or stylesheet (the browser test checks the requests made).
    assert not re.search(r"<script[^>]+src=", page) and not re.search(r"<link[^>]+href=\"http", page)
    assert page.count("<section class='alert") == 2
    assert page.index("tp5o · linux64 — regression") < page.index("sessionrestore · windows11 — improvement")
    assert 'data-expected-plots="6"' in page


def test_stability_section_lists_insufficient_data_with_counts(report_inputs):
    report = build_report(DAY, report_inputs["alerts"], _series(report_inputs), report_inputs["rates"],
                          report_inputs["stability_alerts"])
    assert report.stability_alerts == 1 and report.insufficient_data == 1
    section = report.html.split("id='insufficient-data'")[1]
    assert "content_crashes" in section and "8 crashes / 2,000 h" in section and "usage &lt; 1,000 h" in section
    assert "450 crashes / 150,000 h" in report.html  # the alert's counts next to its ratio
    assert "1.50 [1.40, 1.60]" in report.html


def test_alert_without_stored_draws_is_listed_not_drawn(report_inputs):
    series = _series(report_inputs)
    del series["tp5o__linux64"]
    report = build_report(DAY, report_inputs["alerts"], series, pd.DataFrame(), pd.DataFrame())
    assert report.alerts == 2 and report.plots == 2 and report.missing_posteriors == ["tp5o__linux64"]
    assert "No posterior draws stored" in report.html and "No crash rates for this day" in report.html


def test_write_report_is_atomic(tmp_path):
    path = report_path(tmp_path / "reports", "2026-03-12")
    assert path.name == "regression_report_2026-03-12.html"
    write_report("<html>one</html>", path)
    write_report("<html>two</html>", path)
    assert path.read_text() == "<html>two</html>"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def _png_of(md: str) -> Image.Image:
    data = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md).group(1)
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_alert_partition_metadata_has_summary_and_png(step_series):
    s = step_series
    meta = alert_partition_metadata(s["points"], s["days"], s["draws"], s["rows"], s["modes"])
    summary = meta["summary"].value
    assert "tp5o__linux64" in summary and "2026-03-12" in summary
    assert "modes: 2" in summary and "noise profile: modal" in summary and "outliers (ignored): 3" in summary
    assert "**REGRESSION** vs 14d" in summary and "| reference" in summary
    img = _png_of(meta["plot"].value)
    assert img.size == (640, 272)
    assert len(meta["plot"].value) < 60_000  # it lives in the event log of every run
    assert meta["alert_rows"] == 2 and meta["direction"].value == "regression" and meta["n_modes"] == 2


def test_alert_partition_metadata_without_rows_or_modes(step_series):
    s = step_series
    meta = alert_partition_metadata(s["points"], s["days"], s["draws"], pd.DataFrame(), pd.DataFrame())
    assert "- no alert" in meta["summary"].value and "not computed" in meta["summary"].value
    assert meta["alert_rows"] == 0 and "n_modes" not in meta
    assert _png_of(meta["plot"].value).format == "PNG"


def test_alert_partition_metadata_is_recorded_per_partition(step_series):
    """The wiring the lead adds to `regression_alerts`: `add_asset_metadata(..., partition_key=key)`."""
    s = step_series
    parts = dg.MultiPartitionsDefinition({"date": dg.DailyPartitionsDefinition(start_date="2026-01-01"),
                                          "series": dg.StaticPartitionsDefinition([s["key"]])})

    @dg.asset(partitions_def=parts)
    def alerts_like(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        for key in context.partition_keys:
            context.add_asset_metadata(alert_partition_metadata(s["points"], s["days"], s["draws"], s["rows"],
                                                                s["modes"]), partition_key=key)
        return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})

    key = dg.MultiPartitionKey({"date": "2026-03-12", "series": s["key"]})
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([alerts_like], partition_key=key, instance=instance)
        assert result.success
        mat = result.asset_materializations_for_node("alerts_like")[0]
        assert {"summary", "plot", "partitions", "noise_profile"} <= set(mat.metadata)
        assert _png_of(mat.metadata["plot"].value).format == "PNG"


def _warehouse(tmp_path, report_inputs) -> dict:
    """The tables the report reads, in a DuckDB file laid out as the IO managers write them."""
    db = str(tmp_path / "warehouse.duckdb")
    tables = {
        "regression_alerts": report_inputs["alerts"],
        "cleaned_series": pd.concat([s["points"] for s in report_inputs["series"]], ignore_index=True),
        "series_modes": pd.concat([s["modes"] for s in report_inputs["series"]], ignore_index=True),
        "crash_rates": report_inputs["rates"],
        "stability_alerts": report_inputs["stability_alerts"],
    }
    with duckdb.connect(db) as con:
        con.execute("CREATE SCHEMA regression_assets")
        for name, frame in tables.items():
            con.register("frame", frame)
            con.execute(f'CREATE TABLE regression_assets."{name}" AS SELECT * FROM frame')
            con.unregister("frame")
    for s in report_inputs["series"][:1]:  # only the first alerting series has stored draws
        frame = pd.DataFrame(s["draws"], columns=[f"{d:%Y-%m-%d}" for d in s["days"]]).assign(r_hat_max=1.0)
        path = tmp_path / "posterior" / "spline_posterior" / s["key"] / f"{DAY:%Y-%m-%d}.parquet"
        path.parent.mkdir(parents=True)
        frame.to_parquet(path)
    return {"io_manager": DuckDBTableIOManager(database=db),
            "draws_io_manager": ParquetDrawsIOManager(base_dir=str(tmp_path / "posterior"))}


def test_regression_report_asset_writes_the_page(tmp_path, monkeypatch, report_inputs):
    monkeypatch.setenv("REGRESSION_ASSETS_DATA_DIR", str(tmp_path / "data"))
    resources = _warehouse(tmp_path, report_inputs)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([regression_report], partition_key=f"{DAY:%Y-%m-%d}", resources=resources,
                                instance=instance)
    assert result.success
    meta = result.asset_materializations_for_node("regression_report")[0].metadata
    path = tmp_path / "data" / "reports" / "regression_report_2026-03-12.html"
    assert meta["path"].value == str(path) and path.exists()
    assert meta["alerts"].value == 2 and meta["plots"].value == 2 + 2  # one series has no draws: not drawn
    assert meta["stability_alerts"].value == 1 and meta["insufficient_data"].value == 1
    page = path.read_text()
    assert "sessionrestore · windows11 — improvement" in page and "No posterior draws stored" in page


def test_regression_report_asset_on_an_empty_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("REGRESSION_ASSETS_DATA_DIR", str(tmp_path / "data"))
    resources = {"io_manager": DuckDBTableIOManager(database=str(tmp_path / "none.duckdb")),
                 "draws_io_manager": ParquetDrawsIOManager(base_dir=str(tmp_path / "posterior"))}
    result = dg.materialize([regression_report], partition_key="2026-03-12", resources=resources,
                            instance=dg.DagsterInstance.ephemeral())
    meta = result.asset_materializations_for_node("regression_report")[0].metadata
    assert meta["alerts"].value == 0 and meta["plots"].value == 0


def test_definitions_load_with_the_report():
    from regression_assets.jobs import PERF_ASSETS
    from regression_assets.resources import local_resources
    from regression_assets.stability import STABILITY_ASSETS

    defs = dg.Definitions(assets=[*PERF_ASSETS, *STABILITY_ASSETS, regression_report], resources=local_resources())
    dg.Definitions.validate_loadable(defs)
    node = defs.resolve_asset_graph().get(dg.AssetKey("regression_report"))
    assert {k.path[-1] for k in node.parent_keys} == {"regression_alerts", "stability_alerts", "crash_rates"}


@pytest.mark.slow
def test_report_of_a_real_partition(perf_resources, tmp_path, monkeypatch):
    """End to end: the perf graph for one series and day (PyMC), then its report and partition metadata."""
    from regression_assets.jobs import PERF_ASSETS
    from regression_assets.perf.posterior import frame_to_draws
    from regression_assets_tests.conftest import read_table
    from regression_assets_tests.perf.test_assets import DAY as PERF_DAY
    from regression_assets_tests.perf.test_assets import SERIES, materialize_raw, materialize_series

    monkeypatch.setenv("REGRESSION_ASSETS_DATA_DIR", str(tmp_path / "data"))
    with dg.DagsterInstance.ephemeral() as instance:
        materialize_raw(perf_resources, instance, [f"{d:%Y-%m-%d}" for d in pd.date_range(end=PERF_DAY, periods=60)])
        assert dg.materialize(PERF_ASSETS, selection=["release_calendar"], resources=perf_resources,
                              instance=instance).success
        assert materialize_series(perf_resources, instance, PERF_DAY).success
        result = dg.materialize([regression_report], partition_key=PERF_DAY, resources=perf_resources,
                                instance=instance)
    meta = result.asset_materializations_for_node("regression_report")[0].metadata
    assert meta["alerts"].value == 1 and meta["plots"].value == 2
    page = open(meta["path"].value, encoding="utf-8").read()
    assert "tp5o · linux1804-64-shippable-qr — regression" in page

    rows = read_table(perf_resources, "regression_alerts")
    points = read_table(perf_resources, "cleaned_series")
    modes = read_table(perf_resources, "series_modes")
    draws_path = tmp_path / "posterior" / "spline_posterior" / SERIES / f"{PERF_DAY}.parquet"
    days, draws, _ = frame_to_draws(pd.read_parquet(draws_path))
    partition_meta = alert_partition_metadata(points, days, draws, rows, modes)
    assert "**REGRESSION**" in partition_meta["summary"].value and partition_meta["n_modes"] == 1
