"""Daily schedules: pull yesterday's perf results (and re-pull recent days for late data), then fit
yesterday's partitions per series; stability per channel.

Late-arriving data: the raw pull re-runs the last `LATE_DAYS` days every morning (a day's partition is
replaced, never duplicated). The per-series schedule keys each run on the raw partition's content (its
`content_hash` metadata when present, else its row count): a day whose re-pull brought new rows gets
its series re-fitted, and so do the later days (their trailing windows include it); an unchanged day
is skipped (the same run key is never launched twice).
"""

import datetime as dt
import hashlib

import dagster as dg

from regression_assets.partitions import STABILITY_CHANNELS, series_partitions

LATE_DAYS = 3  # re-pull (and re-fit on change) this many days before yesterday
STABILITY_LATE_DAYS = 1
RAW_ASSET = dg.AssetKey("raw_perf_results")


def _days(scheduled: dt.datetime, late_days: int) -> list[str]:
    """Yesterday (relative to the tick) and the `late_days` before it, oldest first."""
    yesterday = scheduled.date() - dt.timedelta(days=1)
    return [(yesterday - dt.timedelta(days=i)).isoformat() for i in range(late_days, -1, -1)]


@dg.schedule(job_name="raw_perf_job", cron_schedule="0 5 * * *", execution_timezone="UTC",
             description="Pull yesterday's perf results; re-pull the days before for late-arriving data.")
def raw_perf_daily_schedule(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time
    for day in _days(tick, LATE_DAYS):
        yield dg.RunRequest(run_key=f"raw:{day}@{tick:%Y-%m-%d}", partition_key=day)


def _raw_fingerprint(instance: dg.DagsterInstance, day: str) -> str | None:
    """Content of the latest `raw_perf_results` materialization of `day` (None if never materialized)."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RAW_ASSET, asset_partitions=[day]), limit=1)
    if not result.records:
        return None
    meta = result.records[0].asset_materialization.metadata
    for name in ("content_hash", "rows"):
        if name in meta:
            return f"{name}={getattr(meta[name], 'value', meta[name])}"
    return f"id={result.records[0].storage_id}"


@dg.schedule(job_name="perf_series_job", cron_schedule="0 7 * * *", execution_timezone="UTC",
             description="Fit and alert yesterday's partition of every series (and recent days whose data changed).")
def perf_series_daily_schedule(context: dg.ScheduleEvaluationContext):
    series = sorted(context.instance.get_dynamic_partitions(series_partitions.name))
    requested, window = 0, []
    for day in _days(context.scheduled_execution_time, LATE_DAYS):
        fingerprint = _raw_fingerprint(context.instance, day)
        if fingerprint is None:
            continue  # raw not pulled yet: tomorrow's tick (or the raw pull's own run) covers it
        # A day's fit reads the trailing window, so late rows on day D change the runs of D and after.
        window.append(fingerprint)
        content = hashlib.sha1("/".join(window).encode()).hexdigest()[:12]
        for s in series:
            requested += 1
            yield dg.RunRequest(run_key=f"perf:{day}|{s}:{content}",
                                partition_key=dg.MultiPartitionKey({"date": day, "series": s}))
    if not requested:
        yield dg.SkipReason("no raw perf partition for yesterday or the late-data days yet")


@dg.schedule(job_name="stability_job", cron_schedule="0 6 * * *", execution_timezone="UTC",
             description="Crash aggregates to alerts for yesterday (and the day before, for late data), per channel.")
def stability_daily_schedule(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time
    for day in _days(tick, STABILITY_LATE_DAYS):
        for channel in STABILITY_CHANNELS:
            yield dg.RunRequest(run_key=f"stability:{day}|{channel}@{tick:%Y-%m-%d}",
                                partition_key=dg.MultiPartitionKey({"date": day, "channel": channel}))


@dg.schedule(job_name="release_calendar_job", cron_schedule="30 4 * * *", execution_timezone="UTC",
             description="Refresh the release calendar before the morning's fits.")
def release_calendar_daily_schedule(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"calendar@{context.scheduled_execution_time:%Y-%m-%d}")


OPERATIONS_SCHEDULES = [release_calendar_daily_schedule, raw_perf_daily_schedule, stability_daily_schedule,
                        perf_series_daily_schedule]
