"""The names the lake's catalog is attached and organised under (no DuckDB needed to know them)."""

LAKE = "lake"
INTERNAL_SCHEMA = "headwater"
SYSTEM_SCHEMA = "system"
