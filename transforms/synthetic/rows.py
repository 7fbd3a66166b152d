"""Column logic of the synthetic year: spark.range ids -> gateway events and labels.

Every random draw is a hash of (seed, purpose, id): the same seed gives the same
rows whatever the partitioning. Categorical draws use Walker alias tables (small,
broadcast, built on the driver by `transforms.synthetic.plan`): one equi-join and
two uniforms per draw, exact probabilities.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms import schema

TWO_53 = float(2**53)


def uniform(seed: int, purpose: str, key: Column | None = None) -> Column:
    """A uniform in [0, 1) from a hash of (seed, purpose, key); key defaults to `id`."""
    key = F.col("id") if key is None else key
    return F.shiftrightunsigned(F.xxhash64(F.lit(seed), F.lit(purpose), key), 11).cast("double") / TWO_53


def normal(seed: int, purpose: str, key: Column | None = None) -> Column:
    """A standard normal by Box-Muller from two hashed uniforms."""
    u1 = F.greatest(uniform(seed, purpose + ":1", key), F.lit(1e-12))
    u2 = uniform(seed, purpose + ":2", key)
    return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * math.pi * u2)


def with_choice(
    df: DataFrame, table: DataFrame, keys: list[str], n_slots: int, out: str, seed: int, purpose: str,
    key: Column | None = None,
) -> DataFrame:
    """Add `out`, drawn from the alias table rows matching `keys` (columns slot, threshold, primary, alias)."""
    slot = F.least(F.floor(uniform(seed, purpose + ":slot", key) * n_slots), F.lit(n_slots - 1)).cast("int")
    pick = uniform(seed, purpose + ":pick", key)
    renamed = table.select(
        *keys, F.col("slot").alias("_slot"), F.col("threshold").alias("_thr"),
        F.col("primary").alias("_primary"), F.col("alias").alias("_alias"),
    )
    return (
        df.withColumns({"_slot": slot, "_pick": pick})
        .join(F.broadcast(renamed), on=[*keys, "_slot"], how="left")
        .withColumn(out, F.when(F.col("_pick") < F.col("_thr"), F.col("_primary")).otherwise(F.col("_alias")))
        .drop("_slot", "_pick", "_thr", "_primary", "_alias")
    )


def with_time(df: DataFrame, seed: int, start_epoch: int, n_days: int, growth: float,
              first_monday_epoch: int, start_year: int, start_month: int) -> DataFrame:
    """Add `created_at` (exponential traffic growth over the window), `week_idx`, `month_idx`, `frac`."""
    u = uniform(seed, "time")
    b = math.log(growth)
    t = F.log1p(u * (math.exp(b) - 1.0)) / b if abs(b) > 1e-12 else u
    seconds = F.floor(t * (n_days * 86400.0)) + F.lit(start_epoch)
    ms = F.floor(uniform(seed, "time:ms") * 1000)
    return df.withColumns({
        "created_at": F.timestamp_micros((seconds * 1000 + ms) * 1000),
        "frac": t,
    }).withColumns({
        "week_idx": F.floor((F.unix_timestamp("created_at") - first_monday_epoch) / (7 * 86400)).cast("int"),
        "month_idx": ((F.year("created_at") - start_year) * 12 + F.month("created_at") - start_month).cast("int"),
    })


def with_account(df: DataFrame, cohorts: DataFrame, n_slots: int, seed: int, top: dict) -> DataFrame:
    """Add `cohort_idx`, `account_hash`, `account_id` and `is_top_account`.

    The cohort comes from the (model, month) alias table whose values are
    `cohort|active_accounts`; the account is uniform among the cohort's active ones
    (a prefix of its accounts, so activity is nested and retention is planted). The
    account hash uses the author, so one person can use several models of a family.
    A configured share of requests in the top account's window goes to that account.
    """
    chosen = with_choice(df, cohorts, ["model", "month_idx"], n_slots, "_cohort", seed, "cohort")
    parts = F.split("_cohort", r"\|")
    cohort_idx = parts.getItem(0).cast("int")
    active = parts.getItem(1).cast("long")
    idx = F.floor(uniform(seed, "account") * active)
    account_hash = F.xxhash64(F.lit(seed), F.lit("acct"), F.col("author"), cohort_idx, idx)
    is_top = (
        (F.col("created_at") >= F.lit(top["from"]).cast("timestamp"))
        & (F.col("created_at") < F.lit(top["to"]).cast("timestamp"))
        & (uniform(seed, "top") < F.lit(float(top["share_of_requests"])))
    )
    return chosen.withColumns({
        "is_top_account": is_top,
        "cohort_idx": cohort_idx,
        "account_hash": F.when(is_top, F.lit(0)).otherwise(account_hash),
    }).withColumn(
        "account_id",
        F.when(F.col("is_top_account"), F.lit("acct-top-000001"))
        .otherwise(F.concat(F.lit("acct-"), F.lower(F.hex("account_hash")))),
    ).drop("_cohort")


def lognormal(seed: int, purpose: str, mean: Column, sigma: float) -> Column:
    """A lognormal draw with the given mean, rounded to a whole count >= 1."""
    return F.greatest(F.lit(1), F.round(mean * F.exp(normal(seed, purpose) * sigma - sigma * sigma / 2.0))).cast("long")


def lookup(mapping: dict, key: Column, default: float) -> Column:
    """mapping[key] as a column (a literal map), default when absent."""
    if not mapping:
        return F.lit(default)
    literal = F.create_map(*[x for k, v in mapping.items() for x in (F.lit(k), F.lit(float(v)))])
    return F.coalesce(F.element_at(literal, key), F.lit(default))


def with_lengths(df: DataFrame, seed: int, lengths: dict, top: dict) -> DataFrame:
    """Add tokens_prompt, tokens_completion, native_tokens_reasoning, native_tokens_cached."""
    p, c = lengths["prompt_mean"], lengths["completion_mean"]
    frac = F.col("frac")
    prompt_base = F.lit(float(p["start"])) * F.pow(F.lit(p["end"] / p["start"]), frac)
    completion_base = F.lit(float(c["start"])) * F.pow(F.lit(c["end"] / c["start"]), frac)
    prompt_mean = (
        prompt_base * lookup(lengths.get("prompt_multiplier", {}), F.col("category"), 1.0)
        * F.when(F.col("is_top_account"), F.lit(float(top.get("prompt_multiplier", 1.0)))).otherwise(1.0)
    )
    completion_mean = (
        completion_base * lookup(lengths.get("completion_multiplier", {}), F.col("category"), 1.0)
        * F.when(F.col("is_reasoning"), F.lit(float(lengths.get("reasoning_completion_multiplier", 1.0))))
        .otherwise(1.0)
    )
    cached = lengths.get("cached_fraction", {})
    cached_frac = lookup({k: v for k, v in cached.items() if k != "default"}, F.col("category"),
                         float(cached.get("default", 0.0)))
    return df.withColumns({
        "tokens_prompt": lognormal(seed, "prompt", prompt_mean, float(lengths["prompt_sigma"])),
        "tokens_completion": lognormal(seed, "completion", completion_mean, float(lengths["completion_sigma"])),
    }).withColumns({
        "native_tokens_reasoning": F.when(
            F.col("is_reasoning"),
            F.round(F.col("tokens_completion") * float(lengths.get("reasoning_fraction", 0.0))
                    * (0.5 + uniform(seed, "reasoning"))),
        ).otherwise(F.lit(0)).cast("long"),
        "native_tokens_cached": F.when(
            F.col("has_cache_price"),
            F.least(F.col("tokens_prompt"),
                    F.round(F.col("tokens_prompt") * cached_frac * 2 * uniform(seed, "cached"))),
        ).otherwise(F.lit(0)).cast("long"),
    }).withColumn("native_tokens_reasoning", F.least("native_tokens_reasoning", "tokens_completion"))


def with_cost_and_flags(df: DataFrame, seed: int, params: dict) -> DataFrame:
    """Add total_cost (list prices, cache discount, noise; a fee only for BYOK), is_byok and the
    request flags: finish_reason, streamed, cancelled, latency_ms, generation_time_ms."""
    noise = float(params.get("price_noise", 0.0))
    list_cost = (
        (F.col("tokens_prompt") - F.col("native_tokens_cached")) * F.col("price_prompt")
        + F.col("native_tokens_cached") * F.coalesce("price_cache", "price_prompt")
        + F.col("tokens_completion") * F.col("price_completion")
    ) / 1e6
    is_byok = uniform(seed, "byok") < float(params.get("byok_rate", 0.0))
    billed = list_cost * (1.0 + noise * (2.0 * uniform(seed, "price") - 1.0))
    tools = params["tool_calls"]
    prog, other = tools["Programming"], tools["default"]
    p_tool = F.when(
        F.col("is_top_account"), F.lit(float(tools["top_account"]["tool_call_probability"]))
    ).when(
        F.col("category") == "Programming", prog["start"] + (prog["end"] - prog["start"]) * F.col("frac")
    ).otherwise(other["start"] + (other["end"] - other["start"]) * F.col("frac"))
    u_finish = uniform(seed, "finish")
    finish = (
        F.when(F.col("supports_tools") & (u_finish < p_tool), F.lit("tool_calls"))
        .when(uniform(seed, "finish:other") < 0.03, F.lit("length"))
        .when(uniform(seed, "finish:error") < 0.005, F.lit("error"))
        .otherwise(F.lit("stop"))
    )
    return df.withColumns({
        "is_byok": is_byok,
        "total_cost": F.round(
            F.when(is_byok, billed * float(params.get("byok_cost_fraction", 0.0))).otherwise(billed), 10
        ),
        "finish_reason": finish,
        "streamed": uniform(seed, "streamed") < 0.75,
        "cancelled": uniform(seed, "cancelled") < 0.015,
        "latency_ms": (F.lit(150) + F.floor(F.exp(normal(seed, "latency") * 0.6) * 400)).cast("long"),
        "generation_time_ms": F.floor(F.col("tokens_completion") * (8 + 24 * uniform(seed, "speed"))).cast("long"),
    })


PROVIDERS_OSS = ["DeepInfra", "Together", "Fireworks", "Novita", "Chutes", "Groq", "Parasail", "SiliconFlow"]
PROVIDERS_CLOSED = {"anthropic": "Anthropic", "google": "Google Vertex", "openai": "OpenAI", "x-ai": "xAI",
                    "mistralai": "Mistral", "amazon": "Amazon Bedrock"}


def with_provider_and_app(df: DataFrame, seed: int) -> DataFrame:
    """Add provider_name (first-party for closed models, a host for open ones) and app_id."""
    oss = F.array(*[F.lit(p) for p in PROVIDERS_OSS])
    host = F.element_at(oss, (F.floor(uniform(seed, "provider") * len(PROVIDERS_OSS)) + 1).cast("int"))
    first_party = F.create_map(*[x for k, v in PROVIDERS_CLOSED.items() for x in (F.lit(k), F.lit(v))])
    return df.withColumns({
        "provider_name": F.when(F.col("open_weights"), host).otherwise(
            F.coalesce(F.element_at(first_party, F.col("author")), host)
        ),
        "app_id": F.concat(F.lit("app-"), F.pmod(F.col("account_hash"), F.lit(97)).cast("string")),
    })


def with_geography(df: DataFrame, regions: DataFrame, countries: DataFrame, n_region: int, n_country: int,
                   languages: dict, seed: int) -> DataFrame:
    """Add billing_country (fixed per account: region by its arrival month) and language."""
    key = F.col("account_hash")
    with_region = with_choice(df, regions, ["cohort_idx"], n_region, "_region", seed, "region", key)
    with_country = with_choice(with_region, countries, ["_region"], n_country, "billing_country", seed,
                               "country", key)
    local = F.create_map(*[x for k, (lang, _) in languages.items() for x in (F.lit(k), F.lit(lang))])
    share = lookup({k: p for k, (_, p) in languages.items()}, F.col("billing_country"), 0.0)
    language = F.when(uniform(seed, "language") < share, F.element_at(local, F.col("billing_country")))
    return with_country.withColumn("language", F.coalesce(language, F.lit("en"))).drop("_region")


def with_generation_id(df: DataFrame, seed: int) -> DataFrame:
    """Add generation_id: `gen-` + a 16-hex-digit hash of (seed, id) + the id (unique by construction)."""
    return df.withColumn(
        "generation_id",
        F.concat(F.lit("gen-"), F.lower(F.lpad(F.hex(F.xxhash64(F.lit(seed), F.lit("gid"), F.col("id"))), 16, "0")),
                 F.lit("-"), F.col("id").cast("string")),
    )


def iso_text(ts: Column) -> Column:
    """ISO-8601 UTC text with milliseconds, as gateways write it."""
    return F.date_format(ts, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")


MESS_KINDS = ["duplicate", "malformed", "missing_model", "negative_tokens", "bad_timestamp", "unknown_model"]
MESS_WEIGHTS = [0.3, 0.15, 0.12, 0.1, 0.1, 0.23]


def mess_kind(seed: int, rate: float) -> Column:
    """Which kind of mess a row gets (null for a clean row), at the given overall rate."""
    u = uniform(seed, "mess")
    pick = uniform(seed, "mess:kind")
    kind, cum = None, 0.0
    for name, w in zip(MESS_KINDS, MESS_WEIGHTS, strict=False):
        cum += w
        kind = (F.when(pick < cum, F.lit(name)) if kind is None else kind.when(pick < cum, F.lit(name)))
    return F.when(u < rate, kind.otherwise(F.lit(MESS_KINDS[-1])))


def with_mess(df: DataFrame, seed: int, rate: float, unknown_models: list[str]) -> DataFrame:
    """Apply row-level mess (CONTRACT-breaking rows the ingest must catch) and add `copies`."""
    kind = mess_kind(seed, rate)
    unknown = F.array(*[F.lit(m) for m in unknown_models]) if unknown_models else F.array(F.lit("acme/unknown"))
    n_unknown = max(1, len(unknown_models))
    return df.withColumn("mess", kind).withColumns({
        "model": F.when(F.col("mess") == "missing_model", F.lit(None).cast("string"))
        .when(F.col("mess") == "unknown_model",
              F.element_at(unknown, (F.floor(uniform(seed, "unknown") * n_unknown) + 1).cast("int")))
        .otherwise(F.col("model")),
        "tokens_prompt": F.when(F.col("mess") == "negative_tokens", -F.col("tokens_prompt"))
        .otherwise(F.col("tokens_prompt")),
        "copies": F.when(F.col("mess") == "duplicate", F.lit(2)).otherwise(F.lit(1)),
    })


# The contract's event columns; every generated request is a chat completion, so it has
# no call_type (a request without one counts as a completion).
EVENT_OUTPUT = [c for c in schema.EVENT_COLUMNS if c != "call_type"]


def event_json_lines(df: DataFrame) -> DataFrame:
    """One JSON text line per event (duplicates repeated, malformed ones cut short): column `value`."""
    record = F.struct(*[
        (F.when(F.col("mess") == "bad_timestamp", F.lit("not-a-timestamp")).otherwise(iso_text(F.col(c)))
         if c == "created_at" else F.col(c)).alias(c)
        for c in EVENT_OUTPUT
    ])
    text = F.to_json(record)
    value = F.when(F.col("mess") == "malformed", F.substring(text, 1, 60)).otherwise(text)
    return df.select(value.alias("value"), "copies").select(
        "value", F.explode(F.sequence(F.lit(1), F.col("copies"))).alias("_copy")
    ).drop("_copy")


def event_rows(df: DataFrame) -> DataFrame:
    """Typed event rows for Parquet (no malformed text there: such rows lose their model instead)."""
    exploded = df.select("*", F.explode(F.sequence(F.lit(1), F.col("copies"))).alias("_copy"))
    return exploded.select(*[
        (F.when(F.col("mess") == "bad_timestamp", F.lit(None).cast("timestamp")).otherwise(F.col(c))
         if c == "created_at" else
         F.when(F.col("mess") == "malformed", F.lit(None).cast("string")).otherwise(F.col(c))
         if c == "model" else F.col(c)).alias(c)
        for c in EVENT_OUTPUT
    ])


def label_rows(df: DataFrame, paths: DataFrame, any_paths: DataFrame, n_path: int, n_any: int, seed: int,
               low_rate: float, second_rate: float) -> DataFrame:
    """Labels for the sampled requests: the request's own category path (confidence 0.55-0.99), sometimes
    a weaker second label of any path, and sometimes only labels under 0.5."""
    low = uniform(seed, "label:low") < low_rate
    primary_conf = F.when(low, 0.2 + 0.29 * uniform(seed, "label:c1")).otherwise(0.55 + 0.44 * uniform(seed, "label:c1"))
    first = with_choice(df, paths, ["category"], n_path, "path", seed, "label:path")
    second = with_choice(first, any_paths, [], n_any, "path2", seed, "label:path2")
    with_conf = second.withColumns({
        "conf1": F.round(primary_conf, 4),
        "conf2": F.round(F.least(primary_conf - 0.01, 0.15 + 0.4 * uniform(seed, "label:c2")), 4),
        "has_second": uniform(seed, "label:second") < second_rate,
    })
    labels = F.when(
        F.col("has_second"),
        F.array(F.struct(F.col("path").alias("category"), F.col("conf1").alias("confidence")),
                F.struct(F.col("path2").alias("category"), F.col("conf2").alias("confidence"))),
    ).otherwise(F.array(F.struct(F.col("path").alias("category"), F.col("conf1").alias("confidence"))))
    return with_conf.select("generation_id", F.explode(labels).alias("label")).select(
        "generation_id", "label.category", "label.confidence"
    )
