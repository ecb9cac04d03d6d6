"""ЦУР data platform: the Dagster code location."""
