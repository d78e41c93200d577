"""`regression-assets run`: backfill the graph over the bundled sample (or a range) and print the alerts."""

import argparse
import datetime as dt
import os
import sys


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=dt.date.fromisoformat, help="first date (default: the sample's first day)")
    p.add_argument("--end", type=dt.date.fromisoformat, help="last date (default: the sample's last day)")
    p.add_argument("--series", action="append", help="only this series key (repeatable)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="series backfilled in parallel processes (default: %(default)s)")


def run_run(args: argparse.Namespace) -> int:
    import dagster as dg

    from regression_assets.backfill import (
        QUIET,
        process_tags,
        quiet_warnings,
        read_table,
        run_backfill,
        run_stability_backfill,
        sample_date_range,
        set_pool_limit,
    )

    quiet_warnings()
    from regression_assets.definitions import defs
    from regression_assets.resources import data_dir
    from regression_assets.summary import alert_summary_text, stability_summary_text

    first, last = sample_date_range()
    start, end = args.start or first, args.end or last
    if not os.getenv("DAGSTER_HOME"):
        print("regression-assets run: error: set DAGSTER_HOME (make run does) to keep the run history",
              file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        set_pool_limit(instance, "pymc", max(args.workers, 1), log=log)
        stats = run_backfill(defs, instance, start, end, series=args.series, workers=args.workers, log=log)
        stab = run_stability_backfill(defs, instance, start, end, log=log)
        registry = defs.resolve_job_def("alert_registry_job").execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False, tags=process_tags())
        if not registry.success:
            stab["failed_runs"].append(("alert_registry", registry.run_id))
        report = defs.resolve_job_def("report_job").execute_in_process(
            instance=instance, run_config=QUIET, partition_key=end.isoformat(), raise_on_error=False,
            tags=process_tags())
        report_meta = (report.asset_materializations_for_node("regression_report")[0].metadata
                       if report.success else {})
        if not report.success:
            stab["failed_runs"].append(("regression_report", report.run_id))
    stats["runs"] += stab["runs"]
    stats["failed_runs"] += stab["failed_runs"]
    database = str(data_dir() / "warehouse.duckdb")
    alerts = read_table(database, "regression_alerts")
    print(alert_summary_text(alerts))
    print()
    print(stability_summary_text(read_table(database, "stability_alerts")))
    print(f"\n{stats['runs']} runs in {stats['seconds']:.0f}s; tables in {database}")
    if "path" in report_meta:
        print(f"Report: {report_meta['path'].value} ({report_meta['alerts'].value} alerts, "
              f"{report_meta['plots'].value} plots)")
    print("Triage: `regression-assets alerts --status untriaged`, `regression-assets triage ALERT_KEY acknowledged`")
    if stats.get("blocked_runs"):
        print(f"Alerts withheld by a blocking asset check (see the run in the UI): "
              f"{', '.join(k for k, _ in stats['blocked_runs'])}")
    if stats["failed_runs"]:
        print(f"FAILED runs: {stats['failed_runs']}", file=sys.stderr)
        return 1
    return 0
