"""LiteLLM proxy spend logs (the LiteLLM_SpendLogs table) exported as CSV, JSON Lines or JSON documents.

`request_id` -> generation_id, `startTime` -> created_at, `model`, `spend` ->
total_cost, `prompt_tokens`, `completion_tokens`, the account from the first present
of the configured columns (default `end_user`, `user`, `api_key`; none is an unknown
account, not a bad row); `call_type` kept (embeddings, images and other calls that are
not completions stay out of silver); a `startTime` without a zone is UTC (the session
time zone); `metadata` as a JSON string or as an object; cached and
reasoning tokens from `metadata.usage_object` (`prompt_tokens_details.cached_tokens`
or Anthropic-style `cache_read_input_tokens`; `completion_tokens_details.reasoning_tokens`);
`custom_llm_provider` -> provider_name, `team_id` -> app_id; time to first token and
generation time from `completionStartTime` and `endTime`; `status = failure` ->
finish_reason `error`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.formats.gateway import CORRUPT

ACCOUNT_FIELDS = ["end_user", "user", "api_key"]  # the default of conf formats.litellm.account_fields
COLUMNS = ["request_id", "startTime", "endTime", "completionStartTime", "model", "spend", "prompt_tokens",
           "completion_tokens", "user", "api_key", "end_user", "metadata", "status", "custom_llm_provider", "team_id",
           "call_type"]


def _ms_between(later, earlier):
    return ((F.unix_micros(F.try_to_timestamp(later)) - F.unix_micros(F.try_to_timestamp(earlier))) / 1000).cast("long")


def _map(df: DataFrame, fields, account_fields: list[str], col) -> DataFrame:
    account = F.coalesce(*[F.when(F.length(F.trim(col(n))) > 0, col(n)) for n in account_fields])
    usage = "$.usage_object"
    metadata = col("metadata")
    cached = F.coalesce(F.get_json_object(metadata, f"{usage}.prompt_tokens_details.cached_tokens"),
                        F.get_json_object(metadata, f"{usage}.cache_read_input_tokens"))
    reasoning = F.get_json_object(metadata, f"{usage}.completion_tokens_details.reasoning_tokens")
    bad_metadata = (F.length(F.trim(metadata)) > 0) & F.get_json_object(metadata, "$").isNull()
    mapped = {
        "generation_id": col("request_id"), "created_at": col("startTime"), "account_id": account,
        "model": col("model"), "provider_name": col("custom_llm_provider"), "tokens_prompt": col("prompt_tokens"),
        "tokens_completion": col("completion_tokens"), "native_tokens_reasoning": reasoning,
        "native_tokens_cached": cached, "total_cost": col("spend"), "is_byok": F.lit(None).cast("string"),
        "finish_reason": F.when(F.lower(col("status")) == "failure", F.lit("error")),
        "streamed": F.lit(None).cast("string"),
        "cancelled": F.lit(None).cast("string"),
        "latency_ms": _ms_between(col("completionStartTime"), col("startTime")),
        "generation_time_ms": _ms_between(col("endTime"), F.coalesce(col("completionStartTime"), col("startTime"))),
        "billing_country": F.lit(None).cast("string"), "language": F.lit(None).cast("string"),
        "app_id": col("team_id"), "call_type": col("call_type"),
    }
    format_reason = (
        F.when(F.col("is_malformed"), F.lit(None))
        .when(F.coalesce(F.length(F.trim(col("request_id"))), F.lit(0)) == 0, F.lit("litellm_missing_request_id"))
        .when(bad_metadata, F.lit("litellm_bad_metadata"))
    )
    return df.select(
        "source_file", "row_pos", "raw", "is_malformed", format_reason.alias("format_reason"),
        F.lit(False).alias("is_skipped"),
        *[F.when(~F.col("is_malformed"), mapped[n]).cast("string").alias(n) for n, _, _ in fields],
    )


def parse_lines(lines_df: DataFrame, fields, account_fields: list[str]) -> DataFrame:
    """LiteLLM JSON Lines -> raw rows. Needs value, source_file, row_pos."""
    names = list(dict.fromkeys(COLUMNS + account_fields))
    schema = T.StructType([T.StructField(n, T.StringType()) for n in names] + [T.StructField(CORRUPT, T.StringType())])
    parsed = lines_df.withColumn(
        "p", F.from_json("value", schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT})
    ).withColumn("is_malformed", F.col("p").isNull() | F.col(f"p.{CORRUPT}").isNotNull() | (F.trim("value") == ""))
    return _map(parsed.withColumnRenamed("value", "raw"), fields, account_fields, lambda n: F.col(f"p.`{n}`"))


def from_columns(df: DataFrame, fields, account_fields: list[str]) -> DataFrame:
    """A LiteLLM CSV (or Parquet) export -> raw rows. Needs source_file, row_pos and the file's columns."""
    data_columns = [c for c in df.columns if c not in ("source_file", "row_pos")]
    present = set(data_columns)
    rows = df.select(
        "source_file", "row_pos", F.to_json(F.struct(*[F.col(f"`{c}`") for c in data_columns])).alias("raw"),
        F.lit(False).alias("is_malformed"),
        *[(F.col(f"`{c}`").cast("string") if c in present else F.lit(None).cast("string")).alias(f"_c_{c}")
          for c in dict.fromkeys(COLUMNS + account_fields)],
    )
    return _map(rows, fields, account_fields, lambda n: F.col(f"_c_{n}"))
