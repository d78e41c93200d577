"""`release_comparisons`: the latest release vs its predecessors at the same age since release."""

import dagster as dg
import pandas as pd
from pydantic import Field

from regression_assets.stability._common import COMMON, LOOKBACK, PARTITION_EXPR, day_channel_keys, markdown
from regression_assets.stats.stability import COMPARISON_SCHEMA, compare_latest_release, conform


class ReleaseComparisonConfig(dg.Config):
    n_previous: int = Field(default=3, description="How many previous releases to compare with.")
    ratio_threshold: float = Field(default=1.2, description="The rate ratio that counts as a regression.")
    early_hours: int = Field(default=24, description="Length of the separate early period.")
    prior_regressions_per_release: float = Field(
        default=1.0, description="Expected regressed (platform, measure) cells per release, a priori (multiplicity)."
    )
    slab_sd: float = Field(default=0.3, description="Prior sd of a real change's log rate ratio.")


@dg.asset(
    **COMMON,
    kinds={"pandas"},
    metadata={"partition_expr": PARTITION_EXPR},
    ins={"crash_rates": dg.AssetIn(partition_mapping=LOOKBACK)},
)
def release_comparisons(
    context: dg.AssetExecutionContext, config: ReleaseComparisonConfig, crash_rates: pd.DataFrame
) -> pd.DataFrame:
    """Posterior rate ratio of the latest release vs each previous one (and pooled), at equal age."""
    frames = []
    for day, channel in day_channel_keys(context):
        rates = crash_rates[crash_rates["channel"] == channel]
        frames.append(
            compare_latest_release(
                rates, day, config.n_previous, config.ratio_threshold, config.early_hours,
                prior_regressions=config.prior_regressions_per_release, slab_sd=config.slab_sd,
            )
        )
    out = conform(pd.concat(frames, ignore_index=True), COMPARISON_SCHEMA)
    decision = out[out["is_decision"] & (out["reference"] == "pooled")]
    context.add_output_metadata(
        {
            "dagster/row_count": len(out),
            "latest_versions": ", ".join(sorted(out["latest_version"].dropna().unique())),
            "top_ratios": markdown(
                decision.sort_values("p_ratio_gt_threshold_adjusted", ascending=False)[
                    ["day", "os_name", "measure", "latest_version", "previous_versions", "ratio_median",
                     "ratio_lo80", "ratio_hi80", "p_ratio_gt_threshold_adjusted"]
                ],
                10,
            ),
        }
    )
    return out
