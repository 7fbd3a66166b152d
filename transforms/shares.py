"""The compact weekly aggregate of silver and every share table derived from it.

A share whose denominator can be zero (a week of zero-token requests) uses
`try_divide`: null, as the table's definition says, never a DIVIDE_BY_ZERO under
ANSI mode.

`compact_aggregate` reads silver's rows once and produces three grouping sets (an
explode-based GROUPING SETS):

- `cube`: week x model x segment x size x reasoning x tool call x BYOK x category x
  subcategory x region x language, with token, spend and squared-token sums;
- `activity`: account_key x model x author x month, with tokens, and `weeks`, the
  tokens and tool-call tokens of each week of the month the account was active in
  (cohort retention needs the month; the top account's weekly share needs its weeks);
- `prompt_hist`: week x category x log-spaced prompt-length bin, with counts (for
  percentiles).

Every gold share table is then a small aggregation of one of these.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.enrich import week_start

CUBE, ACTIVITY, PROMPT_HIST = 1, 2, 3
CUBE_KEYS = ["week_start", "model", "author", "segment", "size_bucket", "is_reasoning_model", "is_tool_call",
             "is_byok", "category", "subcategory", "region", "language"]
ACTIVITY_KEYS = ["account_key", "model", "author", "month"]
HIST_KEYS = ["week_start", "category", "prompt_bin"]
BINS_PER_OCTAVE = 16  # prompt-length bins 2^(1/16) wide: a percentile is within +-2.2% of the truth
ALL = "All"
OSS_SEGMENTS = ["oss_china", "oss_row"]
Z95 = 1.959963984540054

_KEY_TYPES = {
    "week_start": T.DateType(), "month": T.DateType(), "is_reasoning_model": T.BooleanType(),
    "is_tool_call": T.BooleanType(), "is_byok": T.BooleanType(), "prompt_bin": T.IntegerType(),
}


def prompt_bin(tokens_prompt: Column) -> Column:
    """The log-spaced bin of a prompt length: floor(16 * log2(tokens + 1))."""
    return F.floor(F.log2(tokens_prompt.cast("double") + 1.0) * BINS_PER_OCTAVE).cast("int")


def bin_value(bin_col: Column) -> Column:
    """The geometric middle of a prompt-length bin, in tokens."""
    return F.pow(F.lit(2.0), (bin_col.cast("double") + 0.5) / BINS_PER_OCTAVE) - 1.0


WEEKS_TYPE = T.ArrayType(T.StructType([
    T.StructField("week_start", T.DateType()), T.StructField("tokens", T.LongType()),
    T.StructField("tool_call_tokens", T.LongType()),
]))
WEEKS_PER_MONTH = 6  # the ISO weeks one calendar month can touch
_SUMS = ["requests", "tokens", "tokens_prompt", "tokens_completion", "tokens_sq", "spend", "tool_call_tokens",
         "reasoning_tokens"]


def compact_aggregate(silver_df: DataFrame) -> DataFrame:
    """One pass over silver -> the three grouping sets, told apart by `grouping_set`.

    Needs the silver columns named in CUBE_KEYS and ACTIVITY_KEYS plus week_start,
    tokens_prompt, tokens_completion, tokens, total_cost, event_date. Returns every key
    column (null where a set does not use it), the sums requests, tokens,
    tokens_prompt, tokens_completion, tokens_sq, spend (BYOK excluded),
    tool_call_tokens, reasoning_tokens, last_date (the latest event_date) and, on
    activity rows, `weeks` (week_start, tokens, tool_call_tokens per week of the month).

    The three sets come out of one shuffle keyed by week; the activity rows, per
    account, model and week there, are then summed to the month in a second, much
    smaller shuffle that keeps each week's tokens in `weeks`.
    """
    all_keys = list(dict.fromkeys(CUBE_KEYS + ACTIVITY_KEYS + HIST_KEYS))
    source = silver_df.withColumn("prompt_bin", prompt_bin(F.col("tokens_prompt")))

    def key_struct(set_id: int, keys: list[str]) -> Column:
        return F.struct(
            F.lit(set_id).alias("grouping_set"),
            *[(F.col(k) if k in keys else F.lit(None)).cast(_KEY_TYPES.get(k, T.StringType())).alias(k)
              for k in all_keys],
        )

    weekly_activity = ACTIVITY_KEYS + ["week_start"]
    sets = F.array(key_struct(CUBE, CUBE_KEYS), key_struct(ACTIVITY, weekly_activity),
                   key_struct(PROMPT_HIST, HIST_KEYS))
    tokens = F.col("tokens")
    by_week = (
        source.select(
            F.explode(sets).alias("k"), "tokens", "tokens_prompt", "tokens_completion", "total_cost",
            F.col("is_byok").alias("_byok"), F.col("is_tool_call").alias("_tool"),
            F.col("is_reasoning_model").alias("_reasoning"), "event_date",
        )
        .select("k.*", "tokens", "tokens_prompt", "tokens_completion", "total_cost", "_byok", "_tool", "_reasoning",
                "event_date")
        .groupBy("grouping_set", *all_keys)
        .agg(
            F.count(F.lit(1)).alias("requests"),
            F.sum(tokens).alias("tokens"),
            F.sum("tokens_prompt").alias("tokens_prompt"),
            F.sum("tokens_completion").alias("tokens_completion"),
            F.sum(tokens.cast("double") * tokens.cast("double")).alias("tokens_sq"),
            F.sum(F.when(~F.col("_byok"), F.col("total_cost")).otherwise(0.0)).alias("spend"),
            F.sum(F.when(F.col("_tool"), tokens).otherwise(0)).alias("tool_call_tokens"),
            F.sum(F.when(F.col("_reasoning"), tokens).otherwise(0)).alias("reasoning_tokens"),
            F.max("event_date").alias("last_date"),
        )
    )
    # The second step regroups every row (one plan, so silver is read once): a cube or
    # histogram row is its own group (its week stays in the key), activity rows of the
    # same month come together, each week's tokens summed into its slot of the month
    # (a month touches at most 6 weeks) and the slots then listed in `weeks`.
    is_activity = F.col("grouping_set") == ACTIVITY
    first_week = week_start(F.col("month"))
    slot = F.floor(F.datediff(F.col("_week"), first_week) / 7)
    slots = [(i, c) for i in range(WEEKS_PER_MONTH) for c in ("tokens", "tool_call_tokens")]
    weeks = F.filter(
        F.array(*[F.struct(F.date_add(first_week, 7 * i).alias("week_start"), F.col(f"_tokens_{i}").alias("tokens"),
                           F.col(f"_tool_call_tokens_{i}").alias("tool_call_tokens"))
                  for i in range(WEEKS_PER_MONTH)]),
        lambda w: w["tokens"].isNotNull(),  # a slot no row fell in sums to null
    )
    return (
        by_week.withColumnRenamed("week_start", "_week")
        .withColumn("week_start", F.when(~is_activity, F.col("_week")))
        .groupBy("grouping_set", *all_keys)
        .agg(*[F.sum(c).alias(c) for c in _SUMS], F.max("last_date").alias("last_date"),
             *[F.sum(F.when(is_activity & (slot == i), F.col(c))).alias(f"_{c}_{i}") for i, c in slots])
        .withColumn("weeks", F.when(is_activity, weeks).cast(WEEKS_TYPE))
        .drop(*[f"_{c}_{i}" for i, c in slots])
    )


def grouping_set(agg_df: DataFrame, set_id: int) -> DataFrame:
    """The rows of one grouping set."""
    return agg_df.filter(F.col("grouping_set") == set_id)


def week_number(week_start: Column) -> Column:
    """Weeks since 1970-01-05 (a Monday): a number a range window can step over."""
    return F.floor(F.datediff(week_start, F.lit("1970-01-05").cast("date")) / 7).cast("long")


def with_share(df: DataFrame, group: list[str], value: str = "tokens", out: str = "share") -> DataFrame:
    """Add `out` = value / sum(value) over `group` (null when the total is zero)."""
    total = F.sum(value).over(Window.partitionBy(*group)) if group else F.sum(value).over(Window.partitionBy())
    return df.withColumn(out, F.when(total > 0, F.col(value) / total))


def _share_4w(df: DataFrame, keys: list[str], value: str, denominator: str) -> DataFrame:
    """Add `share_4w`: the key's value summed over the 4 weeks ending this one, over the same
    4-week sum of the week totals (a ratio of sums, so a quiet week weighs less). A range
    window over week numbers, so a missing week counts as zero. Needs week_start, value and
    the per-week `denominator` on every row."""
    week_totals = (
        df.select("week_start", denominator).dropDuplicates(["week_start"])
        .withColumn("_n", week_number(F.col("week_start")))
        .withColumn("_denominator_4w", F.sum(denominator).over(Window.orderBy("_n").rangeBetween(-3, 0)))
        .select("week_start", "_denominator_4w")
    )
    by_key = Window.partitionBy(*keys).orderBy(week_number(F.col("week_start"))).rangeBetween(-3, 0)
    return (
        df.join(week_totals, on="week_start", how="left")
        .withColumn("share_4w", F.try_divide(F.sum(value).over(by_key), F.col("_denominator_4w")))
        .drop("_denominator_4w")
    )


def weekly_share(cube: DataFrame, key: str, where: Column | None = None, extra: dict | None = None) -> DataFrame:
    """Tokens and share per (week_start, key) among the cube rows matching `where`, with share_4w.

    The denominator is the week's total of the same rows; `total_tokens` is kept.
    """
    rows = cube if where is None else cube.filter(where)
    per_key = rows.groupBy("week_start", key).agg(F.sum("tokens").alias("tokens"), *(extra or {}).values())
    totals = rows.groupBy("week_start").agg(F.sum("tokens").alias("total_tokens"))
    joined = per_key.join(totals, on="week_start", how="inner").withColumn(
        "share", F.when(F.col("total_tokens") > 0, F.col("tokens") / F.col("total_tokens"))
    )
    return _share_4w(joined, [key], "tokens", "total_tokens")


def weekly_segment_share(cube: DataFrame) -> DataFrame:
    """week_start, segment, tokens, share (sums to 1 per week), share_4w, total_tokens."""
    return weekly_share(cube, "segment").select("week_start", "segment", "tokens", "share", "share_4w", "total_tokens")


def weekly_oss_model_share(cube: DataFrame) -> DataFrame:
    """week_start, model, segment, tokens, share among open-weights tokens, share_4w."""
    oss = cube.filter(F.col("segment").isin(*OSS_SEGMENTS))
    segments = oss.groupBy("model").agg(F.first("segment").alias("segment"))
    return (
        weekly_share(oss, "model")
        .join(F.broadcast(segments), on="model", how="left")
        .select("week_start", "model", "segment", "tokens", "share", "share_4w", "total_tokens")
    )


def weekly_oss_concentration(oss_model_share: DataFrame) -> DataFrame:
    """week_start, top_model (ties: the smaller slug), top_share, hhi, models_over_5pct, oss_models."""
    ranked = oss_model_share.withColumn(
        "_rank", F.row_number().over(Window.partitionBy("week_start").orderBy(F.col("share").desc(), "model"))
    )
    return ranked.groupBy("week_start").agg(
        F.max(F.when(F.col("_rank") == 1, F.col("model"))).alias("top_model"),
        F.max("share").alias("top_share"),
        F.sum(F.col("share") * F.col("share")).alias("hhi"),
        F.sum(F.when(F.col("share") > 0.05, 1).otherwise(0)).alias("models_over_5pct"),
        F.count(F.lit(1)).alias("oss_models"),
    )


def weekly_size_share(cube: DataFrame) -> DataFrame:
    """week_start, size_bucket (`unknown` when the size is not published), tokens, share among OSS, share_4w."""
    oss = cube.filter(F.col("segment").isin(*OSS_SEGMENTS)).withColumn(
        "size_bucket", F.coalesce("size_bucket", F.lit("unknown"))
    )
    return weekly_share(oss, "size_bucket").select("week_start", "size_bucket", "tokens", "share", "share_4w")


def ratio_share_interval(share: Column, sq_in: Column, sq_all: Column, total: Column, n: Column) -> tuple[Column, Column]:
    """95% interval of a token share estimated from a simple random sample of requests.

    The share is a ratio estimator R = sum(t_i y_i) / sum(t_i) over the n sampled
    requests (t_i tokens, y_i = 1 in the category). Its linearised variance is
    n / (n - 1) * sum(d_i^2) / (sum t_i)^2 with d_i = t_i (y_i - R), and
    sum(d_i^2) = (1 - R)^2 sum_in(t^2) + R^2 sum_out(t^2). Clipped to [0, 1];
    null when n < 2.
    """
    d2 = (1 - share) * (1 - share) * sq_in + share * share * (sq_all - sq_in)
    se = F.try_divide(F.sqrt(n / (n - 1) * d2), total)
    low = F.when(n >= 2, F.greatest(F.lit(0.0), share - Z95 * se))
    high = F.when(n >= 2, F.least(F.lit(1.0), share + Z95 * se))
    return low, high


def weekly_category_share(cube: DataFrame) -> DataFrame:
    """week_start, category, tokens, share among labelled tokens, share_ci_low/high, labelled_requests, share_4w."""
    labelled = cube.filter(F.col("category").isNotNull())
    per_cat = labelled.groupBy("week_start", "category").agg(
        F.sum("tokens").alias("tokens"), F.sum("tokens_sq").alias("tokens_sq"), F.sum("requests").alias("requests")
    )
    totals = labelled.groupBy("week_start").agg(
        F.sum("tokens").alias("total_tokens"), F.sum("tokens_sq").alias("total_tokens_sq"),
        F.sum("requests").alias("labelled_requests"),
    )
    joined = per_cat.join(totals, on="week_start", how="inner").withColumn(
        "share", F.try_divide(F.col("tokens"), F.col("total_tokens"))
    )
    low, high = ratio_share_interval(F.col("share"), F.col("tokens_sq"), F.col("total_tokens_sq"),
                                     F.col("total_tokens"), F.col("labelled_requests"))
    return _share_4w(joined.withColumns({"share_ci_low": low, "share_ci_high": high}), ["category"], "tokens",
                     "total_tokens").select(
        "week_start", "category", "tokens", "share", "share_ci_low", "share_ci_high", "requests",
        "labelled_requests", "share_4w",
    )


def mix_within(cube: DataFrame, outer: str, inner: str, where: Column | None = None) -> DataFrame:
    """outer, inner, tokens, share of the outer group's labelled tokens (whole window)."""
    rows = cube.filter(F.col("category").isNotNull())
    rows = rows if where is None else rows.filter(where)
    per = rows.groupBy(outer, inner).agg(F.sum("tokens").alias("tokens"), F.sum("spend").alias("spend"))
    return with_share(per, [outer]).select(outer, inner, "tokens", "share", "spend")


def category_segment_mix(cube: DataFrame) -> DataFrame:
    """segment, category, tokens, share within the segment."""
    return mix_within(cube, "segment", "category")


def subcategory_share(cube: DataFrame) -> DataFrame:
    """category, subcategory, tokens, share within the category."""
    return mix_within(cube, "category", "subcategory")


def author_category_mix(cube: DataFrame) -> DataFrame:
    """author, category, tokens, share within the author."""
    return mix_within(cube, "author", "category")


def weekly_category_segment_share(cube: DataFrame) -> DataFrame:
    """week_start, category, segment, tokens, share of the category's labelled tokens that week, share_4w."""
    labelled = cube.filter(F.col("category").isNotNull())
    per = labelled.groupBy("week_start", "category", "segment").agg(F.sum("tokens").alias("tokens"))
    totals = labelled.groupBy("week_start", "category").agg(F.sum("tokens").alias("total_tokens"))
    joined = per.join(totals, on=["week_start", "category"], how="inner").withColumn(
        "share", F.try_divide(F.col("tokens"), F.col("total_tokens"))
    )
    n = week_number(F.col("week_start"))
    by_seg = Window.partitionBy("category", "segment").orderBy(n).rangeBetween(-3, 0)
    week_tot = (
        totals.withColumn("_n", n)
        .withColumn("_tot_4w", F.sum("total_tokens").over(Window.partitionBy("category").orderBy("_n")
                                                         .rangeBetween(-3, 0)))
        .select("week_start", "category", "_tot_4w")
    )
    return (
        joined.join(week_tot, on=["week_start", "category"], how="left")
        .withColumn("share_4w", F.try_divide(F.sum("tokens").over(by_seg), F.col("_tot_4w")))
        .select("week_start", "category", "segment", "tokens", "share", "share_4w")
    )


def weekly_author_programming_share(cube: DataFrame) -> DataFrame:
    """week_start, author, tokens, share of Programming tokens, spend, spend_share, share_4w."""
    prog = cube.filter(F.col("category") == "Programming")
    shares = weekly_share(prog, "author", extra={"spend": F.sum("spend").alias("spend")})
    return with_share(shares, ["week_start"], "spend", "spend_share").select(
        "week_start", "author", "tokens", "share", "spend", "spend_share", "share_4w"
    )


def weekly_reasoning_share(cube: DataFrame) -> DataFrame:
    """week_start, tokens, reasoning_tokens (tokens of reasoning models), share."""
    return cube.groupBy("week_start").agg(
        F.sum("tokens").alias("tokens"), F.sum("reasoning_tokens").alias("reasoning_tokens")
    ).withColumn("share", F.try_divide(F.col("reasoning_tokens"), F.col("tokens")))


def top_account_weekly(activity: DataFrame) -> DataFrame:
    """week_start, top_tokens, top_tool_call_tokens of the account with the most tokens over the window
    (ties: the smaller key), from the `weeks` of its activity rows. The key itself stays out of gold."""
    # Requests without an account are no one's: never the top account.
    totals = activity.filter(F.col("account_key").isNotNull()).groupBy("account_key").agg(
        F.sum("tokens").alias("account_tokens"))
    top = totals.orderBy(F.col("account_tokens").desc(), "account_key").limit(1).select("account_key")
    return (
        activity.join(top, on="account_key", how="inner")
        .select(F.explode("weeks").alias("w")).select("w.*")
        .groupBy("week_start").agg(F.sum("tokens").alias("top_tokens"),
                                   F.sum("tool_call_tokens").alias("top_tool_call_tokens"))
    )


def weekly_tool_call_share(cube: DataFrame, activity: DataFrame) -> DataFrame:
    """week_start, tokens, tool_call_tokens, share, share_excl_top_account, top_account_tokens."""
    weekly = cube.groupBy("week_start").agg(
        F.sum("tokens").alias("tokens"), F.sum("tool_call_tokens").alias("tool_call_tokens")
    )
    top = top_account_weekly(activity)
    rest_tokens = F.col("tokens") - F.coalesce("top_tokens", F.lit(0))
    rest_tool = F.col("tool_call_tokens") - F.coalesce("top_tool_call_tokens", F.lit(0))
    return weekly.join(top, on="week_start", how="left").select(
        "week_start", "tokens", "tool_call_tokens",
        F.try_divide(F.col("tool_call_tokens"), F.col("tokens")).alias("share"),
        F.when(rest_tokens > 0, rest_tool / rest_tokens).alias("share_excl_top_account"),
        F.coalesce("top_tokens", F.lit(0)).alias("top_account_tokens"),
    )


def weekly_sequence_length(cube: DataFrame, hist: DataFrame) -> DataFrame:
    """week_start, category (`All` for every request), requests, avg_prompt_tokens, avg_completion_tokens,
    avg_sequence_tokens, p50_prompt_tokens, p90_prompt_tokens.

    Percentiles come from log-spaced histogram bins 2^(1/16) wide, so each is within
    about +-2.2% of the exact value (the bin's geometric middle is reported).
    """
    def means(rows: DataFrame, category: Column) -> DataFrame:
        return rows.withColumn("category", category).groupBy("week_start", "category").agg(
            F.sum("requests").alias("requests"), F.sum("tokens_prompt").alias("p"),
            F.sum("tokens_completion").alias("c"),
        )

    avg = means(cube.filter(F.col("category").isNotNull()), F.col("category")).unionByName(
        means(cube, F.lit(ALL))
    ).select(
        "week_start", "category", "requests",
        (F.col("p") / F.col("requests")).alias("avg_prompt_tokens"),
        (F.col("c") / F.col("requests")).alias("avg_completion_tokens"),
        ((F.col("p") + F.col("c")) / F.col("requests")).alias("avg_sequence_tokens"),
    )
    bins = hist.filter(F.col("category").isNotNull()).select("week_start", "category", "prompt_bin", "requests")
    all_bins = hist.groupBy("week_start", "prompt_bin").agg(F.sum("requests").alias("requests")).withColumn(
        "category", F.lit(ALL)
    )
    stacked = bins.unionByName(all_bins)
    order = Window.partitionBy("week_start", "category").orderBy("prompt_bin").rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    cum = stacked.withColumns({
        "_cum": F.sum("requests").over(order),
        "_n": F.sum("requests").over(Window.partitionBy("week_start", "category")),
    })
    pct = cum.groupBy("week_start", "category").agg(
        F.min(F.when(F.col("_cum") >= 0.5 * F.col("_n"), F.col("prompt_bin"))).alias("_b50"),
        F.min(F.when(F.col("_cum") >= 0.9 * F.col("_n"), F.col("prompt_bin"))).alias("_b90"),
    ).select("week_start", "category", bin_value(F.col("_b50")).alias("p50_prompt_tokens"),
             bin_value(F.col("_b90")).alias("p90_prompt_tokens"))
    return avg.join(pct, on=["week_start", "category"], how="left")


def weekly_region_share(cube: DataFrame) -> DataFrame:
    """week_start, region, tokens, spend (BYOK excluded), token_share, spend_share, share_4w (tokens)."""
    shares = weekly_share(cube, "region", extra={"spend": F.sum("spend").alias("spend")})
    return with_share(shares.withColumnRenamed("share", "token_share"), ["week_start"], "spend", "spend_share").select(
        "week_start", "region", "tokens", "spend", "token_share", "spend_share", "share_4w"
    )


def language_share(cube: DataFrame) -> DataFrame:
    """language, tokens, share (whole window)."""
    per = cube.groupBy("language").agg(F.sum("tokens").alias("tokens"))
    return with_share(per, []).select("language", "tokens", "share")
