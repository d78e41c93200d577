import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regression_assets.sources.schema import RAW_PERF_COLUMNS
from regression_assets.sources.talos import (
    EXPECTED_CHANGES_FILE,
    TALOS_DIR,
    TALOS_FILES,
    expected_perfherder_changes,
    load_all_talos,
    load_talos,
    read_test_runs,
)

SHARED = Path("/work/shared/data/talos")


def test_bundled_files_present():
    for name in (*TALOS_FILES, EXPECTED_CHANGES_FILE.name):
        assert (TALOS_DIR / name).is_file(), name


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not mounted")
@pytest.mark.parametrize("name", [*TALOS_FILES, "expected_perfherder_changes.json"])
def test_bundled_files_are_unchanged_copies(name):
    assert (TALOS_DIR / name).read_bytes() == (SHARED / name).read_bytes()


@pytest.mark.parametrize("name", TALOS_FILES)
def test_load_talos_schema(name):
    df = load_talos(name)
    runs = read_test_runs(name)
    assert list(df.columns) == list(RAW_PERF_COLUMNS)
    for col, dtype in RAW_PERF_COLUMNS.items():
        assert str(df[col].dtype) == dtype, col
    assert len(df) == len(runs)
    assert df["push_timestamp"].is_monotonic_increasing
    assert df["push_timestamp"].dt.tz is None
    assert (df["suite"] == f"talos-{Path(name).stem}").all()
    assert (df["platform"] == "treeherder-sample").all()
    assert (df["repository"] == "mozilla-inbound").all()
    assert (df["framework"] == "talos").all()
    assert df["lower_is_better"].all()
    assert np.isfinite(df["value"]).all() and (df["value"] > 0).all()
    assert df["push_timestamp"].notna().all()


def test_load_talos_row_mapping():
    runs = read_test_runs("runs1.json")
    df = load_talos("runs1.json")
    first = runs[0]
    row = df.iloc[0]
    assert row["push_timestamp"] == pd.Timestamp(first[2], unit="s")
    assert row["value"] == float(first[3])
    assert row["revision"] == first[1][2]
    assert row["task_id"] == str(first[0])


def test_load_talos_accepts_a_path(tmp_path):
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({"test_runs": [[1, [2, 3, "abc"], 1365019665, 5.0, 0]]}))
    df = load_talos(p)
    assert df["suite"].iloc[0] == "talos-mine"
    assert df["revision"].iloc[0] == "abc"


def test_load_talos_rejects_bad_payload(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"stat": "ok"}))
    with pytest.raises(ValueError, match="test_runs"):
        load_talos(p)
    p.write_text(json.dumps({"test_runs": [[1, 2]]}))
    with pytest.raises(ValueError, match="row 1"):
        load_talos(p)


def test_shift_to_end_moves_by_whole_days():
    base = load_talos("a11y.json")
    shifted = load_talos("a11y.json", shift_to_end=pd.Timestamp("2026-05-31"))
    assert shifted["push_timestamp"].max().normalize() == pd.Timestamp("2026-05-31")
    delta = shifted["push_timestamp"] - base["push_timestamp"]
    assert delta.nunique() == 1
    d = delta.iloc[0]
    assert d % pd.Timedelta(days=1) == pd.Timedelta(0)
    np.testing.assert_array_equal(shifted["value"], base["value"])
    # time of day is kept
    assert (shifted["push_timestamp"].dt.time == base["push_timestamp"].dt.time).all()


def test_shift_to_end_accepts_strings_and_tz_aware():
    a = load_talos("runs1.json", shift_to_end="2026-01-10")
    b = load_talos("runs1.json", shift_to_end=pd.Timestamp("2026-01-10T15:00", tz="UTC"))
    pd.testing.assert_frame_equal(a, b)


def test_load_all_talos():
    df = load_all_talos(shift_to_end="2026-05-31")
    assert df["suite"].nunique() == 7
    assert len(df) == sum(len(read_test_runs(f)) for f in TALOS_FILES)
    assert (df.groupby("suite")["push_timestamp"].max().dt.normalize() == pd.Timestamp("2026-05-31")).all()


def test_expected_changes():
    exp = expected_perfherder_changes()
    assert set(exp) == set(TALOS_FILES)
    assert exp["runs5.json"] == []
    assert sum(map(len, exp.values())) == 12
