"""The daily regression report: plotly figures, a self-contained HTML page, per-partition alert metadata."""
