"""OpenRouter generation metadata, as `GET /api/v1/generation` returns it.

One JSON record per line (or a whole JSON document, see jobs.common.sources), either the
API's `{"data": {...}}` envelope or the bare object; an error body (`{"error": {...}}`)
is quarantined as `openrouter_error`. Field names per ../shared/data/llm_request_metadata_fields.txt (section B):
`id` -> generation_id, `latency` -> latency_ms, `generation_time` -> generation_time_ms;
the account from the first present of the configured fields (default
`external_user`, then `api_key`; none is an unknown account, not a bad row);
`api_type` -> call_type. OpenRouter reports no billing country or language.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.formats.gateway import CORRUPT

ACCOUNT_FIELDS = ["external_user", "api_key"]  # the default of conf formats.openrouter.account_fields
SOURCE_FIELDS = [
    "id", "created_at", "model", "provider_name", "tokens_prompt", "tokens_completion", "native_tokens_prompt",
    "native_tokens_completion", "native_tokens_reasoning", "native_tokens_cached", "total_cost", "is_byok",
    "finish_reason", "streamed", "cancelled", "latency", "generation_time", "app_id", "external_user", "api_key",
    "origin", "api_type",
]


def parse_lines(lines_df: DataFrame, fields, account_fields: list[str]) -> DataFrame:
    """OpenRouter lines -> raw rows (see transforms.formats.gateway). Needs value, source_file, row_pos.

    Own reasons: `openrouter_error` (an API error body), `openrouter_missing_id` (no `id`).
    """
    names = list(dict.fromkeys(SOURCE_FIELDS + account_fields))
    schema = T.StructType([T.StructField(n, T.StringType()) for n in names] + [T.StructField(CORRUPT, T.StringType())])
    body = F.coalesce(F.get_json_object("value", "$.data"), F.col("value"))
    parsed = F.from_json(body, schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT})
    rows = lines_df.withColumn("p", parsed).withColumn(
        "is_malformed", F.col("p").isNull() | F.col(f"p.{CORRUPT}").isNotNull() | (F.trim("value") == "")
    )
    p = lambda n: F.col(f"p.`{n}`")  # noqa: E731
    account = F.coalesce(*[F.when(F.length(F.trim(p(n))) > 0, p(n)) for n in account_fields])
    mapped = {
        "generation_id": p("id"), "created_at": p("created_at"), "account_id": account, "model": p("model"),
        "provider_name": p("provider_name"),
        "tokens_prompt": F.coalesce(p("tokens_prompt"), p("native_tokens_prompt")),
        "tokens_completion": F.coalesce(p("tokens_completion"), p("native_tokens_completion")),
        "native_tokens_reasoning": p("native_tokens_reasoning"), "native_tokens_cached": p("native_tokens_cached"),
        "total_cost": p("total_cost"), "is_byok": p("is_byok"), "finish_reason": p("finish_reason"),
        "streamed": p("streamed"), "cancelled": p("cancelled"), "latency_ms": p("latency"),
        "generation_time_ms": p("generation_time"), "billing_country": F.lit(None).cast("string"),
        "language": F.lit(None).cast("string"), "app_id": p("app_id"), "call_type": p("api_type"),
    }
    is_error = F.get_json_object("value", "$.error").isNotNull() & F.get_json_object("value", "$.data").isNull()
    format_reason = (
        F.when(F.col("is_malformed"), F.lit(None))
        .when(is_error, F.lit("openrouter_error"))
        .when(F.coalesce(F.length(F.trim(p("id"))), F.lit(0)) == 0, F.lit("openrouter_missing_id"))
    )
    return rows.select(
        "source_file", "row_pos", F.col("value").alias("raw"), "is_malformed", format_reason.alias("format_reason"),
        F.lit(False).alias("is_skipped"),
        *[F.when(~F.col("is_malformed"), mapped[n]).cast("string").alias(n) for n, _, _ in fields],
    )
