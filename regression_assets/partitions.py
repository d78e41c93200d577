"""Partitions, defined once and imported by every asset that uses them."""

import os

import dagster as dg

# The first day a backfill can reach. Override for data older than this (partitions are cheap until
# materialized, but the UI lists them all: a year × 500 series is ~180k date × series keys).
START_DATE = os.getenv("REGRESSION_ASSETS_START_DATE", "2025-01-01")

daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE)

# Suite-platform series are discovered in raw data and registered by the `register_series` asset.
series_partitions = dg.DynamicPartitionsDefinition(name="suite_platform")

perf_series_partitions = dg.MultiPartitionsDefinition({"date": daily_partitions, "series": series_partitions})

# Release stability: one partition per day × channel (a channel's platforms and measures are judged
# together, so multiple-comparison control and the channel score see the whole release).
STABILITY_CHANNELS = [
    c.strip() for c in os.getenv("REGRESSION_ASSETS_STABILITY_CHANNELS", "release,beta,nightly").split(",") if c.strip()
]
channel_partitions = dg.StaticPartitionsDefinition(STABILITY_CHANNELS)
stability_partitions = dg.MultiPartitionsDefinition({"date": daily_partitions, "channel": channel_partitions})
