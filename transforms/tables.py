"""The warehouse's table names, in one place (no Spark import: the plotting step and
the exports read them without a JVM)."""

from __future__ import annotations

# Every gold table summarize writes (CONTRACT 3.2 plus the author-level cohort tables
# and the category x segment weekly mix), in the order the report reads them.
GOLD_TABLES = [
    "weekly_segment_share", "weekly_oss_model_share", "weekly_oss_concentration", "weekly_size_share",
    "weekly_category_share", "category_segment_mix", "weekly_category_segment_share", "subcategory_share",
    "weekly_author_programming_share", "author_category_mix", "weekly_reasoning_share", "weekly_tool_call_share",
    "weekly_sequence_length", "weekly_region_share", "language_share", "cohort_retention",
    "cohort_retention_author", "cohort_signals", "cohort_signals_author", "category_cost_usage",
    "model_cost_usage", "price_elasticity",
]

# Every other Delta table of a warehouse, by layer (the stages write them; jobs.maintain
# keeps them up). Gold's are GOLD_TABLES under gold/.
BRONZE_TABLES = ["bronze/events", "bronze/labels"]
QUARANTINE_TABLES = ["quarantine/events", "quarantine/labels"]
SILVER_TABLES = ["silver/events", "silver/weekly_aggregate"]
OPS_TABLES = ["ops/ingest_runs", "ops/enrich_state", "ops/summarize_runs"]


def warehouse_tables() -> list[str]:
    """Every Delta table a warehouse can hold, as names under it (bronze/events, gold/language_share, ...)."""
    return BRONZE_TABLES + QUARANTINE_TABLES + SILVER_TABLES + [f"gold/{t}" for t in GOLD_TABLES] + OPS_TABLES


# The columns Delta keeps min/max statistics for (`delta.dataSkippingStatsColumns`,
# set when a table is created) in the big tables. bronze/events and silver/events are
# partitioned by event_date, so a file holds one day: within it the time of day is what
# statistics can still skip by, while ids, hashes and names (every day holds all of them)
# skip nothing. The aggregate is only ever read whole or by its partitions: none. Delta's
# default, the first 32 columns, cost a fifth of each big write (bench/results.md). The
# row count of every file is kept either way.
STATS_COLUMNS = {"bronze/events": ["created_at"], "silver/events": ["created_at"], "silver/weekly_aggregate": []}


def table_properties(name: str) -> dict[str, str]:
    """The Delta table properties a table of the warehouse is created with (name as in warehouse_tables)."""
    if name not in STATS_COLUMNS:
        return {}
    columns = STATS_COLUMNS[name]
    if not columns:
        return {"delta.dataSkippingNumIndexedCols": "0"}
    return {"delta.dataSkippingStatsColumns": ",".join(columns)}
