import subprocess
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_with_every_asset_and_resource():
    from regression_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_perf_results", "cleaned_series", "series_modes", "spline_posterior", "regression_alerts",
            "release_calendar", "crash_aggregates", "crash_rates", "release_comparisons", "stability_alerts",
            "stability_trend"} <= keys
    for key in ("perf_series_job", "raw_perf_job", "stability_job"):
        assert defs.resolve_job_def(key) is not None


def test_every_asset_has_a_one_line_docstring():
    from regression_assets.definitions import defs

    for spec in defs.resolve_asset_graph().asset_nodes:
        description = spec.description or ""
        assert description and "\n" not in description.strip(), spec.key


def test_statistics_do_not_import_dagster():
    for path in (ROOT / "regression_assets" / "stats").glob("*.py"):
        text = path.read_text()
        assert "import dagster" not in text and "from dagster" not in text, path


def test_dagster_cli_validates_the_workspace(tmp_path):
    env = {"DAGSTER_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent),
           "REGRESSION_ASSETS_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w",
                          "workspace.yaml"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
