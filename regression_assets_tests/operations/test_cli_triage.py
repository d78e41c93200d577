"""`triage` and `alerts`: a status set from the command line survives re-materializing the registry."""

import argparse

import dagster as dg
import duckdb
import pandas as pd

from regression_assets.operations import AlertStore, alert_registry
from regression_assets.operations.cli import (
    add_alerts_arguments,
    add_triage_arguments,
    run_alerts,
    run_triage,
)
from regression_assets_tests.operations._rows import perf_rows, stability_rows


def _args(add, argv):
    p = argparse.ArgumentParser()
    add(p)
    return p.parse_args(argv)


def _write_alerts(db, perf, stab):
    with duckdb.connect(db) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS regression_assets")
        con.register("p", perf)
        con.register("s", stab)
        con.execute("CREATE OR REPLACE TABLE regression_assets.regression_alerts AS SELECT * FROM p")
        con.execute("CREATE OR REPLACE TABLE regression_assets.stability_alerts AS SELECT * FROM s")


def _materialize(store):
    result = dg.materialize([alert_registry], resources={"alert_store": store},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return result.asset_materializations_for_node("alert_registry")[0].metadata


def test_triage_status_survives_re_materialization(tmp_path, capsys):
    db = str(tmp_path / "w.duckdb")
    store = AlertStore(database=db)
    _write_alerts(db, perf_rows(), stability_rows())
    meta = _materialize(store)
    assert meta["new_alerts"].value == 2 and meta["untriaged"].value == 2
    key = store.read_registry().query("kind == 'perf'")["alert_key"].iat[0]

    assert run_triage(_args(add_triage_arguments, [key[:8], "acknowledged", "--note", "bug 1", "--database", db])) == 0
    assert f"{key}: untriaged -> acknowledged (bug 1)" in capsys.readouterr().out

    # New evidence: the change moved by a day, and re-materialized twice; the status stays.
    _write_alerts(db, pd.concat([perf_rows(), perf_rows(change="2026-03-18", seen=("2026-03-19",))]), stability_rows())
    _materialize(store)
    meta = _materialize(store)
    reg = store.read_registry()
    assert len(reg) == 2 and meta["new_alerts"].value == 0
    row = reg[reg["alert_key"] == key].iloc[0]
    assert row["status"] == "acknowledged" and row["note"] == "bug 1"
    assert row["last_seen"] == pd.Timestamp("2026-03-19")

    assert run_alerts(_args(add_alerts_arguments, ["--status", "untriaged", "--database", db])) == 0
    out = capsys.readouterr().out
    assert key not in out and "stability" in out
    assert run_alerts(_args(add_alerts_arguments, ["--status", "acknowledged", "--database", db])) == 0
    assert key in capsys.readouterr().out
    assert len(store.status_log()) == 1


def test_triage_rejects_bad_status_and_unknown_key(tmp_path, capsys):
    db = str(tmp_path / "w.duckdb")
    store = AlertStore(database=db)
    _write_alerts(db, perf_rows(), stability_rows())
    _materialize(store)
    key = store.read_registry()["alert_key"].iat[0]
    assert run_triage(_args(add_triage_arguments, [key, "resolved", "--database", db])) == 2
    assert "unknown status" in capsys.readouterr().err
    assert run_triage(_args(add_triage_arguments, ["ffffffffffff", "fixed", "--database", db])) == 2
    assert "no alert" in capsys.readouterr().err
    assert run_alerts(_args(add_alerts_arguments, ["--status", "bogus", "--database", db])) == 2
    assert store.read_registry()["status"].eq("untriaged").all()
