"""The alert registry merge: one row per change, statuses kept, idempotent, moved alerts merged."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regression_assets.stats.lifecycle import (
    STATUSES,
    apply_status_log,
    merge_alerts,
    set_status,
    stability_alert_id,
)
from regression_assets_tests.operations._rows import no_alert_rows, perf_rows, stability_rows


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_one_row_per_change_with_stable_key_and_untriaged_status():
    reg = merge_alerts(None, pd.concat([perf_rows(), no_alert_rows(), stability_rows()], ignore_index=True))
    assert len(reg) == 2
    perf = reg[reg["kind"] == "perf"].iloc[0]
    assert perf["alert_key"] == perf_rows()["alert_id"].iat[0]
    assert perf["status"] == "untriaged" and perf["first_seen"] == pd.Timestamp("2026-03-17")
    assert perf["last_seen"] == pd.Timestamp("2026-03-18") and perf["change_day"] == pd.Timestamp("2026-03-17")
    assert perf["magnitude_pct"] == pytest.approx(6.1) and perf["p"] == pytest.approx(0.97)
    stab = reg[reg["kind"] == "stability"].iloc[0]
    assert stab["alert_key"] == stability_alert_id("release", "Windows_NT", "main_crashes", "140.0")
    assert stab["version"] == "140.0" and stab["magnitude_pct"] == pytest.approx(50.0)
    assert stab["change_day"] == pd.Timestamp("2026-02-01") and stab["severity"] == "major"


def test_merging_the_same_rows_again_changes_nothing():
    rows = pd.concat([perf_rows(), stability_rows()], ignore_index=True)
    once = merge_alerts(None, rows)
    _same(merge_alerts(once, rows), once)
    _same(merge_alerts(merge_alerts(once, rows.iloc[:1]), rows), once)


def test_an_alert_that_moved_by_a_day_merges_into_the_first():
    first = merge_alerts(None, perf_rows(change="2026-03-17", seen=("2026-03-17",)))
    moved = perf_rows(change="2026-03-18", seen=("2026-03-19",), median_pct=7.0)
    reg = merge_alerts(first, moved)
    assert len(reg) == 1
    row = reg.iloc[0]
    assert row["alert_key"] == first["alert_key"].iat[0]
    assert row["change_day"] == pd.Timestamp("2026-03-18")  # the latest evidence
    assert row["change_day_min"] == pd.Timestamp("2026-03-17") and row["change_day_max"] == pd.Timestamp("2026-03-18")
    assert set(row["alert_ids"].split(",")) == {first["alert_key"].iat[0], moved["alert_id"].iat[0]}
    assert row["first_seen"] == pd.Timestamp("2026-03-17") and row["last_seen"] == pd.Timestamp("2026-03-19")


def test_far_apart_or_opposite_or_other_series_changes_stay_separate():
    base = merge_alerts(None, perf_rows(change="2026-03-17"))
    assert len(merge_alerts(base, perf_rows(change="2026-03-25", seen=("2026-03-25",)))) == 2
    assert len(merge_alerts(base, perf_rows(change="2026-03-18", direction="improvement", median_pct=-5))) == 2
    assert len(merge_alerts(base, perf_rows(series="tp5o__mac", change="2026-03-17"))) == 2


def test_a_creeping_change_point_stays_one_alert():
    reg = None
    for i in range(8):  # the change day moves a day later every morning
        day = pd.Timestamp("2026-03-10") + pd.Timedelta(days=i)
        reg = merge_alerts(reg, perf_rows(change=day.date().isoformat(), seen=((day + pd.Timedelta(days=1)).date().isoformat(),)))
    assert len(reg) == 1 and reg["alert_key"].iat[0] == perf_rows(change="2026-03-10")["alert_id"].iat[0]


def test_status_is_never_reset_by_a_re_merge():
    reg = merge_alerts(None, perf_rows())
    key = reg["alert_key"].iat[0]
    triaged = set_status(reg, key, "acknowledged", "bug 123")
    again = merge_alerts(triaged, pd.concat([perf_rows(), perf_rows(change="2026-03-18", seen=("2026-03-20",))]))
    assert len(again) == 1
    assert again["status"].iat[0] == "acknowledged" and again["note"].iat[0] == "bug 123"
    assert again["last_seen"].iat[0] == pd.Timestamp("2026-03-20")


def test_invalid_status_and_unknown_key_are_rejected():
    reg = merge_alerts(None, perf_rows())
    with pytest.raises(ValueError, match="unknown status"):
        set_status(reg, reg["alert_key"].iat[0], "resolved")
    with pytest.raises(KeyError):
        set_status(reg, "nope", "fixed")
    assert set(STATUSES) >= {"untriaged", "acknowledged", "invalid", "fixed", "backedout", "downstream"}


def test_status_log_latest_change_wins():
    reg = merge_alerts(None, perf_rows())
    key = reg["alert_key"].iat[0]
    log = pd.DataFrame({"alert_key": [key, key, "unknown"], "status": ["investigating", "fixed", "invalid"],
                        "note": ["", "backout landed", ""],
                        "changed_at": pd.to_datetime(["2026-03-20", "2026-03-21", "2026-03-22"])})
    out = apply_status_log(reg, log.iloc[::-1])
    assert out["status"].iat[0] == "fixed" and out["note"].iat[0] == "backout landed"


def test_stability_alert_over_several_days_is_one_release_alert():
    reg = merge_alerts(None, stability_rows(days=("2026-02-01",)))
    reg = merge_alerts(reg, stability_rows(days=("2026-02-02", "2026-02-03")))
    assert len(reg) == 1 and reg["change_day"].iat[0] == pd.Timestamp("2026-02-01")
    assert reg["last_seen"].iat[0] == pd.Timestamp("2026-02-03")
    assert len(merge_alerts(reg, stability_rows(version="141.0"))) == 2
    assert len(merge_alerts(reg, stability_rows(status="ok", version="142.0"))) == 1


_batch = st.lists(st.tuples(st.sampled_from(["a__x", "b__x"]), st.integers(0, 20), st.integers(0, 3),
                            st.sampled_from(["regression", "improvement"])), min_size=1, max_size=6)


def _rows(spec) -> pd.DataFrame:
    frames = []
    for series, change, lag, direction in spec:
        change_day = pd.Timestamp("2026-03-01") + pd.Timedelta(days=change)
        seen = (change_day + pd.Timedelta(days=lag)).date().isoformat()
        frames.append(perf_rows(series=series, change=change_day.date().isoformat(), seen=(seen,),
                                direction=direction, median_pct=5.0 if direction == "regression" else -5.0))
    return pd.concat(frames, ignore_index=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=_batch, second=_batch, status=st.sampled_from(STATUSES))
def test_property_idempotent_statuses_kept_no_duplicate_ids(first, second, status):
    reg = merge_alerts(None, _rows(first))
    key = reg["alert_key"].iat[0]
    reg = set_status(reg, key, status)
    merged = merge_alerts(reg, _rows(second))
    _same(merge_alerts(merged, _rows(second)), merged)  # idempotent
    _same(merge_alerts(merged, _rows(first)), merged)  # old rows again: nothing new
    assert merged.loc[merged["alert_key"] == key, "status"].iat[0] == status
    assert merged["alert_key"].is_unique
    ids = [(i, d) for s, d in zip(merged["alert_ids"], merged["direction"], strict=True) for i in s.split(",")]
    assert len(ids) == len(set(ids))  # every alert id (and direction) belongs to exactly one change
    both = pd.concat([_rows(first), _rows(second)])
    assert set(ids) == set(zip(both["alert_id"], both["direction"], strict=True))
