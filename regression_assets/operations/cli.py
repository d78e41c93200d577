"""`regression-assets triage ALERT_KEY STATUS [--note ...]` and `regression-assets alerts [--status ...]`."""

import argparse
import sys

from regression_assets.stats.lifecycle import STATUSES

LIST_COLUMNS = ["alert_key", "kind", "series_key", "version", "change_day", "direction", "magnitude_pct", "p",
                "first_seen", "last_seen", "status", "note"]


def _store(args: argparse.Namespace):
    from regression_assets.operations.registry import AlertStore, alert_store_from_env

    return AlertStore(database=args.database) if args.database else alert_store_from_env()


def _add_database(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database", metavar="FILE.duckdb",
                   help="the warehouse file (default: $REGRESSION_ASSETS_DATA_DIR/warehouse.duckdb)")


def add_triage_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("alert_key", metavar="ALERT_KEY", help="the alert's key (or a unique prefix of 6+ characters)")
    p.add_argument("status", metavar="STATUS", help=f"one of: {', '.join(STATUSES)}")
    p.add_argument("--note", default="", help="why (a bug number, the culprit push, ...)")
    _add_database(p)


def run_triage(args: argparse.Namespace) -> int:
    prog = "regression-assets triage"
    try:
        key, previous = _store(args).set_status(args.alert_key, args.status, args.note)
    except (ValueError, KeyError) as exc:
        print(f"{prog}: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    print(f"{key}: {previous} -> {args.status.strip().lower()}" + (f" ({args.note})" if args.note else ""))
    return 0


def add_alerts_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", default=None, metavar="STATUS",
                   help=f"only alerts with this status ({', '.join(STATUSES)}); default: all")
    p.add_argument("--kind", choices=["perf", "stability"], default=None, help="only perf or stability alerts")
    p.add_argument("--limit", type=int, default=200, help="at most this many rows, newest first (default %(default)s)")
    _add_database(p)


def run_alerts(args: argparse.Namespace) -> int:
    import pandas as pd

    from regression_assets.stats.lifecycle import validate_status

    prog = "regression-assets alerts"
    try:
        status = validate_status(args.status) if args.status else None
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    reg = _store(args).read_registry()
    if status:
        reg = reg[reg["status"] == status]
    if args.kind:
        reg = reg[reg["kind"] == args.kind]
    if reg.empty:
        print("no alerts" + (f" with status {status}" if status else ""))
        return 0
    show = reg.sort_values(["last_seen", "alert_key"], ascending=[False, True]).head(args.limit)[LIST_COLUMNS].copy()
    for col in ("change_day", "first_seen", "last_seen"):
        show[col] = pd.to_datetime(show[col]).dt.strftime("%Y-%m-%d")
    show["magnitude_pct"] = show["magnitude_pct"].round(2)
    show["p"] = show["p"].round(3)
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_colwidth", 60):
        print(show.fillna("").to_string(index=False))
    return 0
