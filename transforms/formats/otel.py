"""OpenTelemetry GenAI spans in OTLP/JSON, as the Collector's file exporter writes them.

One export per line: resourceSpans -> scopeSpans -> spans, attributes as typed
key-value lists (`{"key": ..., "value": {"stringValue" | "intValue" | "doubleValue" |
"boolValue" | "arrayValue": ...}}`, 64-bit integers as JSON strings). A span is a
GenAI inference call when its kind is CLIENT and `gen_ai.operation.name` is chat,
generate_content or text_completion (or, for older instrumentations without an
operation name, it carries `gen_ai.provider.name` / `gen_ai.system`); every other span
(HTTP, database, embeddings, tools, agents) is skipped and counted.

Mapping: `otel-<traceId>-<spanId>` -> generation_id; span start -> created_at; span
duration -> generation_time_ms; `gen_ai.response.time_to_first_chunk` (s) ->
latency_ms; `gen_ai.response.model` (else `gen_ai.request.model`) -> model;
`gen_ai.usage.input_tokens` (deprecated `gen_ai.usage.prompt_tokens`) -> tokens_prompt;
`gen_ai.usage.output_tokens` (`gen_ai.usage.completion_tokens`) -> tokens_completion;
`gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.reasoning.output_tokens`; the first
of `gen_ai.response.finish_reasons`; `gen_ai.provider.name` (`gen_ai.system`) ->
provider_name; `gen_ai.request.stream` -> streamed; the account from configured
attributes, on the span first, then the resource; cost from a configured attribute,
else from the catalog's list prices (prompt and completion, no cache discount).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.enrich import with_resolved_model
from transforms.formats.gateway import CORRUPT

VALUE = T.StructType([
    T.StructField("stringValue", T.StringType()),
    T.StructField("intValue", T.StringType()),
    T.StructField("doubleValue", T.StringType()),
    T.StructField("boolValue", T.StringType()),
    T.StructField("arrayValue", T.StructType([
        T.StructField("values", T.ArrayType(T.StructType([T.StructField("stringValue", T.StringType())]))),
    ])),
])
ATTRIBUTES = T.ArrayType(T.StructType([T.StructField("key", T.StringType()), T.StructField("value", VALUE)]))
SPAN = T.StructType([
    T.StructField("traceId", T.StringType()), T.StructField("spanId", T.StringType()),
    T.StructField("name", T.StringType()), T.StructField("kind", T.StringType()),
    T.StructField("startTimeUnixNano", T.StringType()), T.StructField("endTimeUnixNano", T.StringType()),
    T.StructField("attributes", ATTRIBUTES),
])
EXPORT = T.StructType([
    T.StructField("resourceSpans", T.ArrayType(T.StructType([
        T.StructField("resource", T.StructType([T.StructField("attributes", ATTRIBUTES)])),
        T.StructField("scopeSpans", T.ArrayType(T.StructType([T.StructField("spans", T.ArrayType(SPAN))]))),
    ]))),
    T.StructField(CORRUPT, T.StringType()),
])
INFERENCE_OPERATIONS = ["chat", "generate_content", "text_completion"]


def attr(attributes: Column, key: str) -> Column:
    """An attribute's value as text (strings, ints, doubles, booleans; arrays joined by commas)."""
    value = F.try_element_at(F.filter(attributes, lambda a: a["key"] == key), F.lit(1))["value"]
    array = F.array_join(F.transform(value["arrayValue"]["values"], lambda v: v["stringValue"]), ",")
    return F.coalesce(value["stringValue"], value["intValue"], value["doubleValue"], value["boolValue"], array)


def first_attr(attributes: list[Column], keys: list[str]) -> Column:
    """The first non-blank value among keys, looked up in each attribute list in turn."""
    values = [attr(a, k) for a in attributes for k in keys]
    return F.coalesce(*[F.when(F.length(F.trim(v)) > 0, v) for v in values])


def explode_spans(lines_df: DataFrame) -> DataFrame:
    """One row per span (with its resource attributes), plus one row per malformed line.

    Needs value, source_file, row_pos. Adds span, resource_attributes, is_malformed,
    and a row_pos made unique per span (line position x 100000 + span index).
    """
    parsed = lines_df.withColumn(
        "e", F.from_json("value", EXPORT, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT})
    ).withColumn("is_malformed", F.col("e").isNull() | F.col(f"e.{CORRUPT}").isNotNull() | (F.trim("value") == ""))
    malformed = parsed.filter("is_malformed").select(
        "source_file", "row_pos", "value", "is_malformed",
        F.lit(None).cast(SPAN).alias("span"), F.lit(None).cast(ATTRIBUTES).alias("resource_attributes"),
    )
    spans = (
        parsed.filter(~F.col("is_malformed"))
        .select("source_file", "row_pos", "is_malformed", F.posexplode_outer("e.resourceSpans").alias("ri", "rs"))
        .select("*", F.posexplode_outer("rs.scopeSpans").alias("si", "ss"))
        .select("*", F.posexplode_outer("ss.spans").alias("pi", "span"))
        .filter(F.col("span").isNotNull())
        .select(
            "source_file",
            (F.col("row_pos") * 100000 + F.col("ri") * 10000 + F.col("si") * 1000 + F.col("pi")).alias("row_pos"),
            F.to_json("span").alias("value"), "is_malformed", "span",
            F.col("rs.resource.attributes").alias("resource_attributes"),
        )
    )
    return spans.unionByName(malformed)


def parse_lines(lines_df: DataFrame, fields, account_attributes: list[str], cost_attribute: str | None,
                prices_df: DataFrame, aliases_df: DataFrame) -> DataFrame:
    """OTLP/JSON lines -> raw rows; non-GenAI spans come back with is_skipped = true.

    `prices_df` (model, price_prompt_per_mtok, price_completion_per_mtok) and
    `aliases_df` (alias, target) price a span that has no cost attribute. Own reasons:
    `otel_missing_ids`, `otel_bad_start_time`, `otel_no_account`, `otel_no_cost`.
    """
    spans = explode_spans(lines_df)
    a, r = F.col("span.attributes"), F.col("resource_attributes")
    operation = attr(a, "gen_ai.operation.name")
    provider = first_attr([a], ["gen_ai.provider.name", "gen_ai.system"])
    is_client = F.col("span.kind").isin("3", "SPAN_KIND_CLIENT")
    is_genai = F.coalesce(
        is_client & (operation.isin(*INFERENCE_OPERATIONS) | (operation.isNull() & provider.isNotNull())), F.lit(False)
    )
    start_ns = F.col("span.startTimeUnixNano").try_cast("decimal(38,0)")
    end_ns = F.col("span.endTimeUnixNano").try_cast("decimal(38,0)")
    start = F.timestamp_micros(F.floor(start_ns / 1000).try_cast("long"))
    model = first_attr([a], ["gen_ai.response.model", "gen_ai.request.model"])
    prompt = first_attr([a], ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"])
    completion = first_attr([a], ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"])
    cached = attr(a, "gen_ai.usage.cache_read.input_tokens")
    cost_attr = first_attr([a, r], [cost_attribute]) if cost_attribute else F.lit(None).cast("string")
    ttfc = attr(a, "gen_ai.response.time_to_first_chunk").try_cast("double")
    with_cols = spans.select(
        "*",
        F.when(~F.col("is_malformed"), ~is_genai).otherwise(F.lit(False)).alias("is_skipped"),
        model.alias("_model"), prompt.alias("_prompt"), completion.alias("_completion"), cached.alias("_cached"),
        cost_attr.alias("_cost"), F.coalesce(model, F.lit("")).alias("model"),
    )
    # The model name resolved to a catalog slug by enrich's own rule, to price spans without a cost.
    prices = F.broadcast(prices_df.select(F.col("model").alias("_slug"), F.col("price_prompt_per_mtok").alias("_pp"),
                                          F.col("price_completion_per_mtok").alias("_pc")))
    priced = (
        with_resolved_model(with_cols, aliases_df)
        .withColumnRenamed("model", "_slug").drop("model_variant")
        .join(prices, on="_slug", how="left")
    )
    # List price, no cache discount: OTel spans carry no price, and the catalog's cache
    # prices are not known for every provider.
    list_cost = (F.col("_prompt").try_cast("double") * F.col("_pp") + F.col("_completion").try_cast("double") * F.col("_pc")) / 1e6
    account = first_attr([a, r], account_attributes)
    mapped = {
        "generation_id": F.concat(F.lit("otel-"), F.col("span.traceId"), F.lit("-"), F.col("span.spanId")),
        "created_at": F.date_format(start, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"),
        "account_id": account, "model": F.col("_model"), "provider_name": provider,
        "tokens_prompt": F.col("_prompt"), "tokens_completion": F.col("_completion"),
        "native_tokens_reasoning": attr(a, "gen_ai.usage.reasoning.output_tokens"),
        "native_tokens_cached": F.col("_cached"),
        "total_cost": F.coalesce(F.col("_cost"), F.format_string("%.10f", list_cost)),
        "is_byok": F.lit(None).cast("string"),
        "finish_reason": F.try_element_at(F.split(attr(a, "gen_ai.response.finish_reasons"), ","), F.lit(1)),
        "streamed": attr(a, "gen_ai.request.stream"), "cancelled": F.lit(None).cast("string"),
        "latency_ms": F.round(ttfc * 1000).try_cast("long").cast("string"),
        "generation_time_ms": F.floor(F.try_subtract(end_ns, start_ns) / 1000000).try_cast("long").cast("string"),
        "billing_country": F.lit(None).cast("string"), "language": F.lit(None).cast("string"),
        "app_id": attr(r, "service.name"),
    }
    format_reason = (
        F.when(F.col("is_malformed") | F.col("is_skipped"), F.lit(None))
        .when(F.col("span.traceId").isNull() | F.col("span.spanId").isNull(), F.lit("otel_missing_ids"))
        .when(start_ns.isNull() | (start_ns <= 0), F.lit("otel_bad_start_time"))
        .when(account.isNull(), F.lit("otel_no_account"))
        .when(F.col("_cost").isNull() & F.col("_pp").isNull() & F.col("_model").isNotNull(), F.lit("otel_no_cost"))
    )
    return priced.select(
        "source_file", "row_pos", F.col("value").alias("raw"), "is_malformed", format_reason.alias("format_reason"),
        "is_skipped",
        *[F.when(~F.col("is_malformed"), mapped[n]).cast("string").alias(n) for n, _, _ in fields],
    )
