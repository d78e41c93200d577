"""regression_assets: a Dagster asset graph that finds what got worse — perf regressions and crash-rate regressions."""
