"""Performance-regression assets: raw results → cleaned series → modes / spline posterior → alerts."""
