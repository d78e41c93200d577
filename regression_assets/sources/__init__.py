"""Where raw data comes from: bundled local files, BigQuery, the Perfherder REST API."""
