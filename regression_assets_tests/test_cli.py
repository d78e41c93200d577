"""The `regression-assets detect` contract, exercised as a subprocess (`python -m regression_assets`)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regression_assets.cli import build_parser, main

REPO = Path(__file__).resolve().parent.parent
OUT_FIRST = ["series_id", "timestamp", "direction", "magnitude_pct", "probability"]


def run_cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "regression_assets", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def detect(tmp_path, text, method="perfherder", name="in.csv"):
    inp = tmp_path / name
    inp.write_text(text)
    out = tmp_path / "out.csv"
    return run_cli("detect", "--input", inp, "--output", out, "--method", method), out


def step_rows(series_id, n=60, at=30, pct=10.0, lower_is_better=None, seed=0, tz=""):
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-03-01", periods=n, freq="h")
    v = 100 + rng.normal(0, 0.5, n)
    v[at:] *= 1 + pct / 100
    rows = []
    for t, x in zip(ts, v, strict=True):
        r = f"{series_id},{t.strftime('%Y-%m-%dT%H:%M:%S')}{tz},{x:.4f}"
        if lower_is_better is not None:
            r += f",{lower_is_better}"
        rows.append(r)
    return rows, ts[at]


def csv_text(header, rows):
    return "\n".join([header, *rows]) + "\n"


def one_line(stderr):
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------- success


def test_detect_perfherder_happy_path(tmp_path):
    a, a_at = step_rows("alpha", pct=10.0, lower_is_better="true")
    b, b_at = step_rows("beta", pct=10.0, lower_is_better="FALSE", seed=1)
    c, _ = step_rows("gamma", pct=0.0, lower_is_better="1", seed=2)
    rows = a + b + c
    rng = np.random.default_rng(0)
    rows = [rows[i] for i in rng.permutation(len(rows))]  # any order
    proc, out = detect(tmp_path, csv_text("series_id,timestamp,value,lower_is_better", rows))
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out, dtype={"series_id": str})
    assert list(df.columns[:5]) == OUT_FIRST
    assert list(df["series_id"]) == ["alpha", "beta"]
    assert list(df["direction"]) == ["regression", "improvement"]
    assert df["timestamp"].str.endswith("Z").all()
    assert pd.to_datetime(df["timestamp"]).dt.tz_localize(None).tolist() == [a_at, b_at]
    assert (df["magnitude_pct"] > 5).all()
    assert df["probability"].between(0, 1).all()


def test_detect_tz_aware_and_naive_mean_the_same(tmp_path):
    rows, at = step_rows("s", pct=-8.0)
    naive, out1 = detect(tmp_path, csv_text("series_id,timestamp,value", rows), name="a.csv")
    assert naive.returncode == 0, naive.stderr
    r1 = pd.read_csv(out1)
    # same instants written as +02:00
    shifted = []
    for r in rows:
        sid, t, v = r.split(",")
        local = (pd.Timestamp(t) + pd.Timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S") + "+02:00"
        shifted.append(f"{sid},{local},{v}")
    aware, out2 = detect(tmp_path, csv_text("series_id,timestamp,value", shifted), name="b.csv")
    assert aware.returncode == 0, aware.stderr
    pd.testing.assert_frame_equal(r1, pd.read_csv(out2))
    assert r1["timestamp"].tolist() == [at.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert r1["direction"].tolist() == ["improvement"]


def test_detect_shared_timestamps_and_extra_columns(tmp_path):
    rows, at = step_rows("s", pct=10.0)
    doubled = [r + ",x" for r in rows for _ in range(2)]  # every timestamp twice, plus an ignored column
    proc, out = detect(tmp_path, csv_text("series_id,timestamp,value,note", doubled))
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert len(df) == 1 and pd.Timestamp(df["timestamp"].iloc[0]).tz_localize(None) == at


def test_detect_header_only_writes_empty_output(tmp_path):
    proc, out = detect(tmp_path, "series_id,timestamp,value\n")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert list(df.columns[:5]) == OUT_FIRST and len(df) == 0


def test_short_series_are_skipped_and_counted(tmp_path):
    a, _ = step_rows("long", pct=10.0)
    rows = a + [f"tiny{k},2024-03-01T0{i}:00:00,{i}" for k in range(3) for i in range(5)]
    proc, out = detect(tmp_path, csv_text("series_id,timestamp,value", rows))
    assert proc.returncode == 0, proc.stderr
    assert "skipped 3 series with fewer than 24 points" in proc.stderr
    assert pd.read_csv(out)["series_id"].tolist() == ["long"]


def test_series_ids_kept_verbatim(tmp_path):
    rows, _ = step_rows("007", pct=10.0)
    proc, out = detect(tmp_path, csv_text("series_id,timestamp,value", rows))
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(out, dtype=str)["series_id"].tolist() == ["007"]


def test_output_to_stdout(tmp_path):
    rows, _ = step_rows("s", pct=10.0)
    inp = tmp_path / "in.csv"
    inp.write_text(csv_text("series_id,timestamp,value", rows))
    proc = run_cli("detect", "--input", inp, "--output", "-", "--method", "perfherder", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(",".join(OUT_FIRST))
    assert proc.stderr == ""


def test_default_method(tmp_path):
    pytest.importorskip("regression_assets.stats.changepoint")
    rows, _ = step_rows("s", n=200, at=100, pct=10.0)
    proc, out = detect(tmp_path, csv_text("series_id,timestamp,value", rows), method="default")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert list(df.columns[:5]) == OUT_FIRST


# ---------------------------------------------------------------- bad input -> exit 2, one line


def test_missing_column(tmp_path):
    proc, out = detect(tmp_path, "series_id,timestamp,val\na,2024-01-01,1\n")
    assert proc.returncode == 2
    msg = one_line(proc.stderr)
    assert "line 1" in msg and "'value'" in msg and "missing" in msg
    assert not out.exists()


def test_empty_file(tmp_path):
    proc, _ = detect(tmp_path, "")
    assert proc.returncode == 2
    assert "empty" in one_line(proc.stderr)


def test_missing_input_file(tmp_path):
    proc = run_cli("detect", "--input", tmp_path / "nope.csv", "--output", tmp_path / "o.csv", "--method", "perfherder")
    assert proc.returncode == 2
    assert "no such file" in one_line(proc.stderr)


@pytest.mark.parametrize(
    ("field", "bad_row", "expect"),
    [
        ("value", "a,2024-01-01T03:00:00,abc", "'value' 'abc' is not a finite number"),
        ("value", "a,2024-01-01T03:00:00,", "'value' is empty"),
        ("value", "a,2024-01-01T03:00:00,nan", "'value' 'nan' is not a finite number"),
        ("timestamp", "a,yesterday,1.0", "'timestamp' 'yesterday' is not an ISO-8601 timestamp"),
        ("timestamp", "a,2024-13-45T00:00:00,1.0", "'timestamp'"),
        ("series_id", ",2024-01-01T03:00:00,1.0", "'series_id' is empty"),
        ("lower_is_better", "a,2024-01-01T03:00:00,1.0,maybe", "'lower_is_better' 'maybe' is not one of"),
    ],
)
def test_bad_field_names_row_and_field(tmp_path, field, bad_row, expect):
    good = [f"a,2024-01-01T0{i}:00:00,1.0,true" for i in range(3)]
    if field != "lower_is_better":
        bad_row += ",true"
    rows = good[:2] + [bad_row] + good[2:]  # data row 3 = line 4
    proc, out = detect(tmp_path, csv_text("series_id,timestamp,value,lower_is_better", rows))
    assert proc.returncode == 2, proc.stderr
    msg = one_line(proc.stderr)
    assert "line 4 (data row 3)" in msg, msg
    assert expect in msg, msg
    assert not out.exists()


def test_line_number_accounts_for_blank_lines(tmp_path):
    text = "series_id,timestamp,value\na,2024-01-01T00:00:00,1\n\n\na,2024-01-01T01:00:00,oops\n"
    proc, _ = detect(tmp_path, text)
    assert proc.returncode == 2
    assert "line 5 (data row 2)" in one_line(proc.stderr)


def test_first_bad_row_is_reported(tmp_path):
    rows = ["a,2024-01-01T00:00:00,1", "a,2024-01-01T01:00:00,x", "a,never,1"]
    proc, _ = detect(tmp_path, csv_text("series_id,timestamp,value", rows))
    assert proc.returncode == 2
    msg = one_line(proc.stderr)
    assert "data row 2" in msg and "'value'" in msg


def test_lower_is_better_must_be_constant_per_series(tmp_path):
    rows = ["a,2024-01-01T00:00:00,1,true", "b,2024-01-01T00:00:00,1,no", "a,2024-01-01T01:00:00,1,yes",
            "a,2024-01-01T02:00:00,1,0"]
    proc, _ = detect(tmp_path, csv_text("series_id,timestamp,value,lower_is_better", rows))
    assert proc.returncode == 2
    msg = one_line(proc.stderr)
    assert "'a'" in msg and "lower_is_better" in msg and "data row 4" in msg and "line 5" in msg


def test_unknown_method(tmp_path):
    rows, _ = step_rows("s")
    proc, _ = detect(tmp_path, csv_text("series_id,timestamp,value", rows), method="magic")
    assert proc.returncode == 2
    msg = one_line(proc.stderr)
    assert "unknown method 'magic'" in msg and "perfherder" in msg


def test_usage_errors_exit_2(tmp_path):
    proc = run_cli("detect", "--input", tmp_path / "x.csv")
    assert proc.returncode == 2
    assert "--output" in one_line(proc.stderr)
    assert run_cli().returncode == 2


# ---------------------------------------------------------------- in-process


def test_parser_has_detect_subcommand():
    args = build_parser().parse_args(["detect", "--input", "a", "--output", "b"])
    assert args.method == "default" and callable(args.handler)


def test_main_in_process(tmp_path, capsys):
    rows, _ = step_rows("s", pct=10.0)
    inp = tmp_path / "in.csv"
    inp.write_text(csv_text("series_id,timestamp,value", rows))
    out = tmp_path / "out.csv"
    assert main(["detect", "--input", str(inp), "--output", str(out), "--method", "perfherder"]) == 0
    assert len(pd.read_csv(out)) == 1
    assert "1 changes" in capsys.readouterr().err


def test_the_cli_does_not_import_dagster_until_a_subcommand_needs_it():
    # other tools call `detect` once per file: importing Dagster for it cost ~0.8 s a call
    code = ("import sys, regression_assets.cli as c; c.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'pymc')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
