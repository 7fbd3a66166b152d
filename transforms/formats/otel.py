"""OpenTelemetry GenAI spans in OTLP/JSON (`{"resourceSpans": [...]}`), one export per
line (the Collector's file exporter) or one export per `.json` document.

Attributes are typed key-value lists (`{"key": ..., "value": {"stringValue" |
"intValue" | "doubleValue" | "boolValue" | "arrayValue": ...}}`, 64-bit integers as JSON
strings); span kinds come as numbers (3) or names (`SPAN_KIND_CLIENT`).

The dialects read, each name tried in the order given (the first non-blank wins):

| field | attributes |
|---|---|
| operation | `gen_ai.operation.name`; OpenLLMetry `llm.request.type`; OpenInference `openinference.span.kind` (`LLM` is chat); Langfuse `langfuse.observation.type` (`generation` is chat) |
| model | `gen_ai.response.model`, `gen_ai.request.model`, `llm.response.model`, `llm.request.model`, OpenInference `llm.model_name`, Langfuse `langfuse.observation.model.name` |
| prompt / completion tokens | `gen_ai.usage.input_tokens` / `output_tokens`, the deprecated `prompt_tokens` / `completion_tokens`, `llm.usage.*`, OpenInference `llm.token_count.prompt` / `completion`, Langfuse `usage_details` (JSON), Braintrust `braintrust.metrics` (JSON); completion from the total when only the total is given |
| cached / reasoning tokens | `gen_ai.usage.cache_read.input_tokens` (`cache_read_input_tokens`), `gen_ai.usage.reasoning.output_tokens` (`reasoning_tokens`), `llm.token_count.prompt_details.cache_read` / `completion_details.reasoning` |
| provider | `gen_ai.provider.name`, `gen_ai.system`, `llm.system`, `llm.provider` |
| cost | the configured attributes (default `gen_ai.usage.cost`, OpenLIT; `gen_ai.cost.total_cost`, LiteLLM), Langfuse `cost_details` (its `total`, else the sum), else the catalog's list prices |
| time to first token | `gen_ai.response.time_to_first_chunk` (s), Vercel `ai.response.msToFirstChunk` (ms), Langfuse `completion_start_time` |

A span is an LLM call when its operation is an inference (chat, generate_content,
text_completion, completion) and it is a CLIENT span or carries a model and usage; or,
with no operation, when it carries a model and usage, or is a CLIENT span naming a
provider. So INTERNAL spans that carry a model and usage count (LiteLLM,
OpenInference, Langfuse, Braintrust), and HTTP, workflow, tool, agent and embedding
spans do not. A call whose child span (same trace) is also a call is a wrapper (the
Vercel AI SDK's `ai.generateText` around `ai.generateText.doGenerate`, a gateway span
around an instrumented client): only the innermost counts. Skipped spans are counted.

Mapping: `otel-<traceId>-<spanId>` (lower-case hex; ids that are not 32 and 16 hex
digits are `otel_bad_ids`) -> generation_id; span start -> created_at; duration ->
generation_time_ms; the operation -> call_type; `service.name` -> app_id; the account
from the configured attributes, on the span first, then the resource (none is an
unknown account, not a bad row).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

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
    T.StructField("parentSpanId", T.StringType()), T.StructField("name", T.StringType()), T.StructField("kind", T.StringType()),
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
INFERENCE_OPERATIONS = ["chat", "generate_content", "text_completion", "completion"]
ACCOUNT_ATTRIBUTES = ["user.id", "enduser.id", "traceloop.association.properties.user_id", "langfuse.user.id"]
COST_ATTRIBUTES = ["gen_ai.usage.cost", "gen_ai.cost.total_cost"]
MODEL = ["gen_ai.response.model", "gen_ai.request.model", "llm.response.model", "llm.request.model",
         "llm.model_name", "langfuse.observation.model.name"]
PROVIDER = ["gen_ai.provider.name", "gen_ai.system", "llm.system", "llm.provider"]
STREAMED = ["gen_ai.request.stream", "gen_ai.is_streaming", "gen_ai.request.is_stream", "llm.is_streaming"]
# (attribute, JSON path or None): usage in plain attributes, then inside JSON-valued ones.
LANGFUSE_USAGE, BRAINTRUST_METRICS = "langfuse.observation.usage_details", "braintrust.metrics"
PROMPT = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens",
          "llm.token_count.prompt", (LANGFUSE_USAGE, "$.input_tokens"), (LANGFUSE_USAGE, "$.input"),
          (BRAINTRUST_METRICS, "$.prompt_tokens")]
COMPLETION = ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens",
              "llm.token_count.completion", (LANGFUSE_USAGE, "$.output_tokens"), (LANGFUSE_USAGE, "$.output"),
              (BRAINTRUST_METRICS, "$.completion_tokens")]
TOTAL = ["gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total",
         (LANGFUSE_USAGE, "$.total"), (BRAINTRUST_METRICS, "$.tokens")]
CACHED = ["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
          "llm.token_count.prompt_details.cache_read", (BRAINTRUST_METRICS, "$.prompt_cached_tokens")]
REASONING = ["gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
             "llm.token_count.completion_details.reasoning"]


def _text(value: Column) -> Column:
    """An attribute value as text (strings, ints, doubles, booleans; arrays joined by commas)."""
    array = F.array_join(F.transform(value["arrayValue"]["values"], lambda v: v["stringValue"]), ",")
    return F.coalesce(value["stringValue"], value["intValue"], value["doubleValue"], value["boolValue"], array)


def attribute_map(attributes: Column) -> Column:
    """An OTLP attribute list as a map of key -> value text; of a repeated key the first wins.

    Built once per span, so every lookup after it is a map access, not a scan of the list."""
    keys = F.transform(attributes, lambda a: a["key"])
    entries = F.transform(attributes, lambda a: F.struct(a["key"].alias("key"), _text(a["value"]).alias("value")))
    first = F.filter(entries, lambda e, i: e["key"].isNotNull() & (F.array_position(keys, e["key"]) == i + 1))
    return F.map_from_entries(first)


def attr(attributes: Column, key: str) -> Column:
    """An attribute's value as text, from a map built by attribute_map (null when absent)."""
    return F.try_element_at(attributes, F.lit(key))


def first_attr(attributes: list[Column], keys: list) -> Column:
    """The first non-blank value among keys, looked up in each attribute list in turn.

    A key is an attribute name, or (name, JSON path) for a value inside a JSON-valued
    attribute (Langfuse's `usage_details`, Braintrust's `metrics`).
    """
    values = [F.get_json_object(attr(a, k[0]), k[1]) if isinstance(k, tuple) else attr(a, k)
              for a in attributes for k in keys]
    return F.coalesce(*[F.when(F.length(F.trim(v)) > 0, v) for v in values])


def cost_attributes(format_cfg: dict) -> list[str]:
    """The cost attributes of conf formats.otel: `cost_attributes` (a list), or a single `cost_attribute`."""
    if format_cfg.get("cost_attributes") is not None:
        return list(format_cfg["cost_attributes"])
    if format_cfg.get("cost_attribute"):
        return [format_cfg["cost_attribute"]]
    return COST_ATTRIBUTES


def operation_of(a: Column) -> Column:
    """The span's operation in GenAI terms, from whichever dialect names it (lower case)."""
    llm_type = F.lower(attr(a, "llm.request.type"))
    openinference = F.lower(attr(a, "openinference.span.kind"))
    langfuse = F.lower(attr(a, "langfuse.observation.type"))
    return F.coalesce(
        F.lower(attr(a, "gen_ai.operation.name")),
        F.when(llm_type == "completion", F.lit("text_completion")).otherwise(llm_type),
        F.when(openinference == "llm", F.lit("chat")).otherwise(openinference),
        F.when(langfuse == "generation", F.lit("chat")).otherwise(langfuse),
    )


def first_finish_reason(value: Column) -> Column:
    """The first finish reason: of an array attribute (joined by commas), or of a JSON array string (LiteLLM)."""
    as_json = F.try_element_at(F.from_json(value, T.ArrayType(T.StringType())), F.lit(1))
    return F.coalesce(as_json, F.try_element_at(F.split(value, ","), F.lit(1)))


def langfuse_cost(a: Column) -> Column:
    """Langfuse's `cost_details` (JSON): its `total`, else the sum of its parts."""
    details = attr(a, "langfuse.observation.cost_details")
    parts = F.map_values(F.from_json(details, T.MapType(T.StringType(), T.DoubleType())))
    total = F.get_json_object(details, "$.total").try_cast("double")
    summed = F.aggregate(parts, F.lit(0.0).cast("double"), lambda acc, v: acc + F.coalesce(v, F.lit(0.0)))
    return F.coalesce(total, F.when(F.size(parts) > 0, summed))


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


def parse_lines(lines_df: DataFrame, fields, account_attributes: list[str], cost_attributes: list[str],
                prices_df: DataFrame, aliases_df: DataFrame) -> DataFrame:
    """OTLP/JSON records -> raw rows; spans that are not LLM calls come back with is_skipped = true.

    `prices_df` (model, price_prompt_per_mtok, price_completion_per_mtok) and
    `aliases_df` (alias, target) price a span that has no cost attribute. Own reasons:
    `otel_missing_ids`, `otel_bad_ids`, `otel_bad_start_time`, `otel_no_cost`.
    """
    priced = with_list_prices(call_spans(lines_df, cost_attributes), prices_df, aliases_df)
    mapped = contract_fields(F.col("_a"), F.col("_r"), account_attributes)
    return priced.select(
        "source_file", "row_pos", F.col("value").alias("raw"), "is_malformed", format_reason().alias("format_reason"),
        "is_skipped",
        *[F.when(~F.col("is_malformed"), mapped[n]).cast("string").alias(n) for n, _, _ in fields],
    )


def call_spans(lines_df: DataFrame, cost_attributes: list[str]) -> DataFrame:
    """Every span with its attribute maps (`_a`, `_r`), each dialect's value looked up once
    (`_operation`, `_provider`, `_model`, `_prompt`, `_completion`, `_cost`), and
    `is_skipped`: not an LLM call, or a wrapper whose child in the same trace is one
    (the innermost call counts)."""
    a, r = F.col("_a"), F.col("_r")
    spans = explode_spans(lines_df).withColumns({
        "_a": attribute_map(F.col("span.attributes")), "_r": attribute_map(F.col("resource_attributes")),
    })
    spans = spans.withColumns({
        "_operation": operation_of(a), "_provider": first_attr([a], PROVIDER), "_model": first_attr([a], MODEL),
        "_prompt": first_attr([a], PROMPT), "_total": first_attr([a], TOTAL),
        "_completion_attr": first_attr([a], COMPLETION),
    }).withColumn("_completion", F.coalesce(
        "_completion_attr", F.try_subtract(F.col("_total").try_cast("long"), F.col("_prompt").try_cast("long")).cast("string"),
    ))
    operation, provider, model = F.col("_operation"), F.col("_provider"), F.col("_model")
    prompt, completion = F.col("_prompt"), F.col("_completion")
    is_client = F.col("span.kind").isin("3", "SPAN_KIND_CLIENT")
    has_model_and_usage = model.isNotNull() & (prompt.isNotNull() | completion.isNotNull())
    is_call = F.coalesce(
        (operation.isin(*INFERENCE_OPERATIONS) & (is_client | has_model_and_usage))
        | (operation.isNull() & (has_model_and_usage | (is_client & provider.isNotNull()))),
        F.lit(False),
    )
    trace = Window.partitionBy(F.col("span.traceId"))
    wrapper = F.array_contains(
        F.collect_set(F.when(F.col("_is_call"), F.col("span.parentSpanId"))).over(trace), F.col("span.spanId")
    )
    cost_attr = first_attr([a, r], cost_attributes) if cost_attributes else F.lit(None).cast("string")
    return (
        spans.withColumn("_is_call", is_call)
        .select(
            "*",
            F.when(~F.col("is_malformed"), ~F.col("_is_call") | F.coalesce(wrapper, F.lit(False)))
            .otherwise(F.lit(False)).alias("is_skipped"),
            F.coalesce(cost_attr, langfuse_cost(a).cast("string")).alias("_cost"),
            F.coalesce(model, F.lit("")).alias("model"),
        )
    )


def with_list_prices(spans: DataFrame, prices_df: DataFrame, aliases_df: DataFrame) -> DataFrame:
    """Add the catalog's list prices (`_pp`, `_pc` per 1M tokens) of each span's model, resolved
    to a catalog slug by enrich's own rule, to price the spans without a cost."""
    prices = F.broadcast(prices_df.select(F.col("model").alias("_slug"), F.col("price_prompt_per_mtok").alias("_pp"),
                                          F.col("price_completion_per_mtok").alias("_pc")))
    return (
        with_resolved_model(spans, aliases_df)
        .withColumnRenamed("model", "_slug").drop("model_variant")
        .join(prices, on="_slug", how="left")
    )


def _start_ns() -> Column:
    return F.col("span.startTimeUnixNano").try_cast("decimal(38,0)")


def contract_fields(a: Column, r: Column, account_attributes: list[str]) -> dict[str, Column]:
    """The contract's fields of a priced call span (`a`, `r`: its span and resource attributes)."""
    start_ns, end_ns = _start_ns(), F.col("span.endTimeUnixNano").try_cast("decimal(38,0)")
    start = F.timestamp_micros(F.floor(start_ns / 1000).try_cast("long"))
    # List price, no cache discount: OTel spans carry no price, and the catalog's cache
    # prices are not known for every provider.
    list_cost = (F.col("_prompt").try_cast("double") * F.col("_pp") + F.col("_completion").try_cast("double") * F.col("_pc")) / 1e6
    ttfc_s = attr(a, "gen_ai.response.time_to_first_chunk").try_cast("double")
    ttfc_ms = attr(a, "ai.response.msToFirstChunk").try_cast("double")
    first_chunk = F.try_to_timestamp(F.regexp_replace(attr(a, "langfuse.observation.completion_start_time"), '"', ""))
    langfuse_ttfc = (F.unix_micros(first_chunk) - F.floor(start_ns / 1000).try_cast("long")) / 1000
    trace_id, span_id = F.lower(F.col("span.traceId")), F.lower(F.col("span.spanId"))
    return {
        "generation_id": F.concat(F.lit("otel-"), trace_id, F.lit("-"), span_id),
        "created_at": F.date_format(start, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"),
        "account_id": first_attr([a, r], account_attributes), "model": F.col("_model"),
        "provider_name": F.col("_provider"),
        "tokens_prompt": F.col("_prompt"), "tokens_completion": F.col("_completion"),
        "native_tokens_reasoning": first_attr([a], REASONING),
        "native_tokens_cached": first_attr([a], CACHED),
        "total_cost": F.coalesce(F.col("_cost"), F.format_string("%.10f", list_cost)),
        "is_byok": F.lit(None).cast("string"),
        "finish_reason": F.coalesce(first_finish_reason(attr(a, "gen_ai.response.finish_reasons")),
                                    attr(a, "llm.finish_reason")),
        "streamed": first_attr([a], STREAMED), "cancelled": F.lit(None).cast("string"),
        "latency_ms": F.round(F.coalesce(ttfc_s * 1000, ttfc_ms, langfuse_ttfc)).try_cast("long").cast("string"),
        "generation_time_ms": F.floor(F.try_subtract(end_ns, start_ns) / 1000000).try_cast("long").cast("string"),
        "billing_country": F.lit(None).cast("string"), "language": F.lit(None).cast("string"),
        "app_id": attr(r, "service.name"), "call_type": F.col("_operation"),
    }


def format_reason() -> Column:
    """OTel's own reasons to quarantine a call span (null for a good one, a malformed line or a skipped span)."""
    trace_id, span_id, start_ns = F.lower(F.col("span.traceId")), F.lower(F.col("span.spanId")), _start_ns()
    return (
        F.when(F.col("is_malformed") | F.col("is_skipped"), F.lit(None))
        .when(F.col("span.traceId").isNull() | F.col("span.spanId").isNull(), F.lit("otel_missing_ids"))
        .when(~trace_id.rlike("^[0-9a-f]{32}$") | ~span_id.rlike("^[0-9a-f]{16}$"), F.lit("otel_bad_ids"))
        .when(start_ns.isNull() | (start_ns <= 0), F.lit("otel_bad_start_time"))
        .when(F.col("_cost").isNull() & F.col("_pp").isNull() & F.col("_model").isNotNull(), F.lit("otel_no_cost"))
    )
