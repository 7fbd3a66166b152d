"""The silver columns (CONTRACT 3.1): time keys, model attributes, segment, size, category, region.

Every function is DataFrame -> DataFrame; dimension tables arrive as small
DataFrames and are broadcast.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.schema import COMPLETION_CALL_TYPES

CHINA = ["CN", "HK", "TW"]
SMALL_MAX_B = 15.0   # small: < 15B
MEDIUM_MAX_B = 70.0  # medium: 15 to < 70B; large: >= 70B


def week_start(ts: Column) -> Column:
    """The Monday (UTC) that starts the ISO week of a timestamp or date, as a date: the one
    definition of a week (silver's week_start, and summarize's re-derived weeks)."""
    return F.date_trunc("week", ts).cast("date")


def event_date(ts: Column) -> Column:
    """The UTC day of a timestamp: bronze's and silver's partition, and part of a request's
    identity in bronze (ingest looks for a repeat in the days a batch adds to)."""
    return F.to_date(ts)


def with_time_keys(df: DataFrame) -> DataFrame:
    """Add `event_date`, `week_start` (ISO Monday, UTC) and `month` (first day). Needs `created_at`."""
    return df.withColumns({
        "event_date": event_date(F.col("created_at")),
        "week_start": week_start(F.col("created_at")),
        "month": F.trunc(F.col("created_at").cast("date"), "month"),
    })


def with_tokens(df: DataFrame) -> DataFrame:
    """Add `tokens` = prompt + completion (reasoning is part of completion)."""
    return df.withColumn("tokens", F.col("tokens_prompt") + F.col("tokens_completion"))


def base_model(model: Column) -> Column:
    """The catalog slug of an event's model: a `:free` (any `:variant`) suffix removed, lower case."""
    name = F.lower(F.trim(model))
    return F.when(name.contains(":"), F.regexp_replace(name, r":[^/]*$", "")).otherwise(name)


def is_completion(call_type: Column) -> Column:
    """True for a completion call (see schema.COMPLETION_CALL_TYPES) or a call without a type."""
    kind = F.lower(F.trim(call_type))
    unprefixed = F.when(kind.startswith("a"), F.substring(kind, 2, 1000))  # LiteLLM's async `acompletion`
    return F.coalesce(
        (kind == "") | kind.isin(*COMPLETION_CALL_TYPES) | unprefixed.isin(*COMPLETION_CALL_TYPES), F.lit(True)
    )


def with_resolved_model(df: DataFrame, aliases_df: DataFrame) -> DataFrame:
    """Resolve `model` to a catalog slug through the alias table; keep the name as sent in `model_variant`.

    Tried in order: the whole name (lower case, `:variant` and an `openrouter/` prefix
    removed), then its last path part (`anthropic/claude-sonnet-4-20250514` ->
    `claude-sonnet-4-20250514`), then that part without a trailing date (a dated
    permaslug such as `deepseek/deepseek-v4-flash-20260423` -> `deepseek-v4-flash`, or
    `-2025-04-14`). `aliases_df` needs alias, target (both lower case). An unresolved
    name stays as it is (and gets segment `unknown`).
    """
    # Every row runs these, and most names have no prefix, variant or date: each regular
    # expression runs only on a name it can change.
    base = base_model(F.col("model"))
    name = F.when(base.startswith("openrouter/"), F.regexp_replace(base, r"^openrouter/", "")).otherwise(base)
    last = F.col("_name_last")
    keys = {"_full": "_name", "_last": "_name_last", "_undated": "_name_undated"}
    out = df.withColumns({
        "model_variant": F.col("model"), "_name": name, "_name_last": F.substring_index(name, "/", -1),
    }).withColumn("_name_undated", F.when(F.substring(last, -1, 1).between("0", "9"), F.regexp_replace(
        last, r"-(\d{8}|\d{4}-\d{2}-\d{2})$", "")).otherwise(last))
    for alias, column in keys.items():
        table = F.broadcast(aliases_df.select(F.col("alias").alias(alias), F.col("target").alias(f"_t{alias}")))
        out = out.join(table, F.col(column) == F.col(alias), how="left")
    return (
        out.withColumn("model", F.coalesce(*[f"_t{alias}" for alias in keys], "_name"))
        .drop(*keys, *keys.values(), *[f"_t{alias}" for alias in keys])
    )


def with_model_attributes(df: DataFrame, models_df: DataFrame) -> DataFrame:
    """Resolve `model` to its catalog row (broadcast join) and add its attributes.

    Needs `model`; `models_df` needs model, author, open_weights, origin_country,
    params_total_b, params_active_b, reasoning. Adds `model_variant` (the slug as sent),
    replaces `model` with the base slug and adds `author`, `open_weights`,
    `origin_country`, `params_total_b`, `params_active_b`, `is_reasoning_model`,
    `in_catalog`. A model missing from the catalog keeps its rows; its author is the
    slug's prefix.
    """
    catalog = F.broadcast(
        models_df.select(
            F.col("model").alias("_catalog_model"), F.col("author").alias("_catalog_author"),
            "open_weights", "origin_country", "params_total_b", "params_active_b",
            F.col("reasoning").alias("is_reasoning_model"),
        )
    )
    if "model_variant" not in df.columns:  # not resolved through aliases: keep the name as sent
        df = df.withColumns({"model_variant": F.col("model"), "model": base_model(F.col("model"))})
    return (
        df.join(catalog, F.col("model") == F.col("_catalog_model"), how="left")
        .withColumns({
            "in_catalog": F.col("_catalog_model").isNotNull(),
            "author": F.coalesce("_catalog_author", F.split("model", "/").getItem(0)),
            "is_reasoning_model": F.coalesce("is_reasoning_model", F.lit(False)),
        })
        .drop("_catalog_model", "_catalog_author")
    )


def segment(in_catalog: Column, open_weights: Column, origin_country: Column) -> Column:
    """`closed`, `oss_china` (open weights from CN/HK/TW), `oss_row` (other open) or `unknown`."""
    return (
        F.when(~in_catalog, F.lit("unknown"))
        .when(~open_weights, F.lit("closed"))
        .when(origin_country.isin(*CHINA), F.lit("oss_china"))
        .otherwise(F.lit("oss_row"))
    )


def size_bucket(open_weights: Column, params_total_b: Column) -> Column:
    """`small` (<15B), `medium` (15 to <70B), `large` (>=70B) for open models; null otherwise."""
    return (
        F.when(~open_weights | params_total_b.isNull(), F.lit(None).cast("string"))
        .when(params_total_b < SMALL_MAX_B, F.lit("small"))
        .when(params_total_b < MEDIUM_MAX_B, F.lit("medium"))
        .otherwise(F.lit("large"))
    )


def with_segment_and_size(df: DataFrame) -> DataFrame:
    """Add `segment` and `size_bucket`. Needs the columns of with_model_attributes."""
    open_weights = F.coalesce("open_weights", F.lit(False))
    return df.withColumns({
        "segment": segment(F.col("in_catalog"), open_weights, F.col("origin_country")),
        "size_bucket": size_bucket(open_weights, F.col("params_total_b")),
    })


def with_region(df: DataFrame, regions_df: DataFrame) -> DataFrame:
    """Normalise `billing_country` (upper case, `ZZ` when blank) and add `region` (broadcast join).

    `regions_df` needs country, region. A code not in it gets `Unknown`.
    """
    regions = F.broadcast(regions_df.select(F.col("country").alias("_country"), F.col("region")))
    country = F.upper(F.trim("billing_country"))
    return (
        df.withColumn("billing_country", F.when(F.length(country) > 0, country).otherwise(F.lit("ZZ")))
        .join(regions, F.col("billing_country") == F.col("_country"), how="left")
        .withColumn("region", F.coalesce("region", F.lit("Unknown")))
        .drop("_country")
    )


def normalised_language(language: Column) -> Column:
    """A BCP-47 tag in canonical case: `zh_hans` -> `zh-Hans`, `EN-us` -> `en-US`; blank -> `und`.

    The primary subtag is lower case, a 4-letter script subtag title case, a 2-letter
    or 3-digit region subtag upper case; other subtags lower case.
    """
    tag = F.trim(language)
    parts = F.split(F.translate(tag, "_", "-"), "-")
    canonical = F.array_join(
        F.transform(
            parts,
            lambda part, i: F.when(i == 0, F.lower(part))
            .when(F.length(part) == 4, F.initcap(part))
            .when((F.length(part) == 2) | part.rlike("^[0-9]{3}$"), F.upper(part))
            .otherwise(F.lower(part)),
        ),
        "-",
    )
    # A tag of one subtag (most of them) is its primary subtag: lower case, without the
    # split and per-subtag function the others go through.
    single = ~tag.contains("-") & ~tag.contains("_")
    return (F.when(F.coalesce(F.length(tag), F.lit(0)) == 0, F.lit("und"))
            .when(single, F.lower(tag)).otherwise(canonical))


def with_language(df: DataFrame) -> DataFrame:
    """Replace `language` by its normalised form."""
    return df.withColumn("language", normalised_language(F.col("language")))


def hmac_sha256_hex(key: bytes, message: Column) -> Column:
    """HMAC-SHA256 of a string column under key, as lower-case hex, from built-in functions.

    HMAC(K, m) = H((K' xor opad) || H((K' xor ipad) || m)) with K' the key padded to
    the 64-byte block (hashed first when longer), per RFC 2104.
    """
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\x00")
    inner_pad = bytes(b ^ 0x36 for b in block)
    outer_pad = bytes(b ^ 0x5C for b in block)
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), F.encode(message, "UTF-8")), 256))
    return F.sha2(F.concat(F.lit(outer_pad), inner), 256)


def with_account_key(df: DataFrame, key: bytes) -> DataFrame:
    """Replace `account_id` by `account_key`, its keyed hash (HMAC-SHA256, hex). Raw ids go no further."""
    return df.withColumn("account_key", hmac_sha256_hex(key, F.col("account_id"))).drop("account_id")


def with_tool_call_flag(df: DataFrame) -> DataFrame:
    """Add `is_tool_call`: finish_reason is `tool_calls` (case-insensitive)."""
    return df.withColumn("is_tool_call", F.coalesce(F.lower(F.trim("finish_reason")) == "tool_calls", F.lit(False)))


def taxonomy_bucket(labels_df: DataFrame, taxonomy_df: DataFrame, path_col: str = "category_path") -> DataFrame:
    """Add `category`: the bucket of the longest taxonomy prefix of each path (`/` matches all).

    A prefix matches a path when it equals it or is followed by `/`. `taxonomy_df`
    needs prefix, bucket. Done by exploding each path into its prefixes and a
    broadcast join: labels are a small sample, and the rule table is tiny.
    """
    levels = F.filter(F.split(F.col(path_col), "/"), lambda s: s != "")
    prefixes = F.transform(
        F.sequence(F.lit(0), F.size(levels)),
        lambda n: F.when(n == 0, F.lit("/")).otherwise(F.concat(F.lit("/"), F.array_join(F.slice(levels, 1, n), "/"))),
    )
    rules = F.broadcast(taxonomy_df.select(F.col("prefix"), F.col("bucket")))
    window = Window.partitionBy("_label_id").orderBy(F.length("prefix").desc())
    return (
        labels_df.withColumn("_label_id", F.monotonically_increasing_id())
        .withColumn("prefix", F.explode(prefixes))
        .join(rules, on="prefix", how="inner")
        .withColumn("_rank", F.row_number().over(window))
        .filter(F.col("_rank") == 1)
        .withColumnRenamed("bucket", "category")
        .drop("_label_id", "prefix", "_rank")
    )


def subcategory(path: Column) -> Column:
    """The last two levels of a category path (the whole path when it has fewer): `Games/Roleplaying Games`."""
    levels = F.filter(F.split(path, "/"), lambda s: s != "")
    return F.array_join(F.slice(levels, F.greatest(F.size(levels) - 1, F.lit(1)), 2), "/")


def chosen_labels(labels_df: DataFrame, taxonomy_df: DataFrame, threshold: float) -> DataFrame:
    """One label per labelled request: the highest confidence at or over threshold (ties: smaller path).

    Needs generation_id, category (the path), confidence. Returns generation_id,
    category (bucket), subcategory, category_path, label_confidence.
    """
    window = Window.partitionBy("generation_id").orderBy(F.col("confidence").desc(), F.col("category_path").asc())
    best = (
        labels_df.filter(F.col("confidence") >= F.lit(threshold))
        .select("generation_id", F.col("category").alias("category_path"), "confidence")
        .withColumn("_rank", F.row_number().over(window))
        .filter(F.col("_rank") == 1)
    )
    return taxonomy_bucket(best, taxonomy_df).select(
        "generation_id", "category", subcategory(F.col("category_path")).alias("subcategory"),
        "category_path", F.col("confidence").alias("label_confidence"),
    )


def with_category(df: DataFrame, chosen_df: DataFrame, broadcast: bool = False) -> DataFrame:
    """Add category, subcategory, category_path, label_confidence (null when unlabelled) and `is_labelled`.

    `broadcast`: the chosen labels are few enough to ship to every task, so the
    events are joined where they are read instead of being shuffled by generation_id.
    """
    labels = F.broadcast(chosen_df) if broadcast else chosen_df
    return df.join(labels, on="generation_id", how="left").withColumn(
        "is_labelled", F.col("category").isNotNull()
    )


SILVER_COLUMNS = [
    "generation_id", "created_at", "week_start", "month", "account_key", "model", "model_variant",
    "author", "provider_name", "segment", "open_weights", "origin_country", "size_bucket",
    "params_total_b", "params_active_b", "is_reasoning_model", "in_catalog",
    "tokens_prompt", "tokens_completion", "tokens", "native_tokens_reasoning", "native_tokens_cached",
    "total_cost", "is_byok", "finish_reason", "is_tool_call", "streamed", "cancelled",
    "latency_ms", "generation_time_ms", "billing_country", "region", "language", "app_id",
    "category", "subcategory", "category_path", "label_confidence", "is_labelled", "event_date",
]


def silver_events(
    events_df: DataFrame,
    chosen_df: DataFrame,
    models_df: DataFrame,
    regions_df: DataFrame,
    account_key: bytes,
    aliases_df: DataFrame | None = None,
    broadcast_labels: bool = False,
) -> DataFrame:
    """Bronze events -> silver rows: every column of CONTRACT 3.1, raw account ids replaced.
    `broadcast_labels`: see with_category."""
    resolved = events_df if aliases_df is None else events_df.transform(with_resolved_model, aliases_df)
    return (
        resolved.transform(with_time_keys)
        .transform(with_tokens)
        .transform(with_model_attributes, models_df)
        .transform(with_segment_and_size)
        .transform(enrich_request_columns, chosen_df, regions_df, account_key, broadcast_labels)
        .select(*SILVER_COLUMNS)
    )


def enrich_request_columns(df: DataFrame, chosen_df: DataFrame, regions_df: DataFrame, account_key: bytes,
                           broadcast_labels: bool = False) -> DataFrame:
    """Region, language, tool-call flag, category and account key (the per-request columns)."""
    return (
        df.transform(with_region, regions_df)
        .transform(with_language)
        .transform(with_tool_call_flag)
        .transform(with_category, chosen_df, broadcast_labels)
        .transform(with_account_key, account_key)
    )
