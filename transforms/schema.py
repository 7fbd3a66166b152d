"""The contract's schemas and column names (CONTRACT.md section 1), in one place."""

from __future__ import annotations

from pyspark.sql import types as T

# (name, Spark type, required) for every event column of CONTRACT 1.1, in order.
EVENT_FIELDS: list[tuple[str, T.DataType, bool]] = [
    ("generation_id", T.StringType(), True),
    ("created_at", T.TimestampType(), True),
    ("account_id", T.StringType(), False),
    ("model", T.StringType(), True),
    ("provider_name", T.StringType(), False),
    ("tokens_prompt", T.LongType(), True),
    ("tokens_completion", T.LongType(), True),
    ("native_tokens_reasoning", T.LongType(), False),
    ("native_tokens_cached", T.LongType(), False),
    ("total_cost", T.DoubleType(), True),
    ("is_byok", T.BooleanType(), False),
    ("finish_reason", T.StringType(), False),
    ("streamed", T.BooleanType(), False),
    ("cancelled", T.BooleanType(), False),
    ("latency_ms", T.LongType(), False),
    ("generation_time_ms", T.LongType(), False),
    ("billing_country", T.StringType(), False),
    ("language", T.StringType(), False),
    ("app_id", T.StringType(), False),
    # An extension of the contract: the kind of call (LiteLLM's call_type, OpenRouter's
    # api_type, the OTel operation). Null is a completion; see COMPLETION_CALL_TYPES.
    ("call_type", T.StringType(), False),
]

LABEL_FIELDS: list[tuple[str, T.DataType, bool]] = [
    ("generation_id", T.StringType(), True),
    ("category", T.StringType(), True),
    ("confidence", T.DoubleType(), True),
]

EVENT_COLUMNS = [name for name, _, _ in EVENT_FIELDS]

# The call types that are completions (text in, text out): the share, cost and
# cohort tables count only these (and calls without a type). Others (embeddings,
# images, audio, moderation, rerank, ...) stay in bronze and are left out of silver.
# Compared in lower case, an async `a` prefix removed (LiteLLM's `acompletion`).
COMPLETION_CALL_TYPES = [
    "completion", "completions", "text_completion", "chat", "chat_completion", "responses",
    "anthropic_messages", "generate_content", "generate_content_stream",
]

# Token counts: at most ingest.max_tokens (default 10^9) per request.
TOKEN_COLUMNS = ["tokens_prompt", "tokens_completion", "native_tokens_reasoning", "native_tokens_cached"]

# Columns whose value must be >= 0 when present.
NON_NEGATIVE_EVENT_COLUMNS = [
    "tokens_prompt", "tokens_completion", "native_tokens_reasoning", "native_tokens_cached",
    "total_cost",
]

# Defaults the contract gives for absent optional values.
EVENT_DEFAULTS = {
    "native_tokens_reasoning": 0,
    "native_tokens_cached": 0,
    "is_byok": False,
    "billing_country": "ZZ",
    "language": "und",
}


def struct_of(fields: list[tuple[str, T.DataType, bool]]) -> T.StructType:
    """The typed schema of a field list (every field nullable: validation decides)."""
    return T.StructType([T.StructField(name, dtype, True) for name, dtype, _ in fields])


def text_struct_of(fields: list[tuple[str, T.DataType, bool]]) -> T.StructType:
    """The same fields as strings: how raw rows are read before validation."""
    return T.StructType([T.StructField(name, T.StringType(), True) for name, _, _ in fields])


EVENT_SCHEMA = struct_of(EVENT_FIELDS)
LABEL_SCHEMA = struct_of(LABEL_FIELDS)

# bronze/events: the contract columns, then lineage and the partition column.
BRONZE_EVENT_SCHEMA = T.StructType(
    EVENT_SCHEMA.fields
    + [
        T.StructField("source_file", T.StringType(), True),
        T.StructField("ingest_run_id", T.StringType(), True),
        T.StructField("event_date", T.DateType(), True),
    ]
)

BRONZE_LABEL_SCHEMA = T.StructType(
    LABEL_SCHEMA.fields
    + [
        T.StructField("source_file", T.StringType(), True),
        T.StructField("ingest_run_id", T.StringType(), True),
    ]
)

QUARANTINE_SCHEMA = T.StructType([
    T.StructField("ingest_run_id", T.StringType(), False),
    T.StructField("source_file", T.StringType(), True),
    T.StructField("reason", T.StringType(), False),
    T.StructField("raw", T.StringType(), True),
])
