"""The interface every perf source implements; assets depend on this, never on a concrete source."""

import datetime as dt

import dagster as dg
import pandas as pd


class PerfSource(dg.ConfigurableResource):
    """Returns one day's perf results as a frame of `schema.RAW_PERF_COLUMNS` (naive-UTC timestamps)."""

    def fetch_day(self, day: dt.date) -> pd.DataFrame:  # pragma: no cover - interface
        raise TypeError(f"{type(self).__name__} does not implement fetch_day")
