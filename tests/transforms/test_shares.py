"""Every share table on a small hand-computed silver sample."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from jobs.common.session import local_frame
from transforms import shares

SILVER = (
    "week_start date, month date, account_key string, model string, author string, segment string, "
    "size_bucket string, is_reasoning_model boolean, is_tool_call boolean, is_byok boolean, category string, "
    "subcategory string, region string, language string, tokens_prompt long, tokens_completion long, "
    "tokens long, total_cost double, event_date date"
)
W1, W2, W3, W5 = (dt.date(2025, 5, 5), dt.date(2025, 5, 12), dt.date(2025, 5, 19), dt.date(2025, 6, 2))
M5, M6 = dt.date(2025, 5, 1), dt.date(2025, 6, 1)


def row(week, model, segment, prompt, completion, *, acct="a", author=None, size=None, reasoning=False,
        tool=False, byok=False, category=None, sub=None, region="Europe", language="en", cost=0.0, month=None):
    return (week, month or (M6 if week >= M6 else M5), acct, model, author or model.split("/")[0], segment,
            size, reasoning, tool, byok, category, sub, region, language, prompt, completion,
            prompt + completion, cost, week)


@pytest.fixture(scope="module")
def agg(spark):
    rows = [
        # Week 1: closed 600, oss_china 300 (two models tied at 150), oss_row 100.
        row(W1, "c/closed", "closed", 500, 100, acct="big", reasoning=True, tool=True, category="Programming",
            sub="Programming/Other", region="North America", cost=6.0),
        row(W1, "q/one", "oss_china", 100, 50, size="large", category="Roleplay", sub="Games/Roleplaying Games",
            language="zh-Hans", region="Asia", cost=1.0),
        row(W1, "q/two", "oss_china", 100, 50, size="small", category="Roleplay", sub="Adult",
            region="Asia", cost=1.0),
        row(W1, "m/row", "oss_row", 80, 20, size="medium", byok=True, region="Europe", cost=9.0),
        # Week 2: only closed models, nothing labelled.
        row(W2, "c/closed", "closed", 150, 50, acct="big", tool=True, region="North America", cost=2.0),
        row(W2, "c/closed", "closed", 100, 100, acct="small", region="Europe", cost=2.0),
        # Week 3 empty; week 5 (June): one OSS model.
        row(W5, "m/row", "oss_row", 300, 100, acct="small", size="medium", category="Programming",
            sub="Programming/Development Tools", tool=True, region="Europe", cost=4.0, month=M6),
    ]
    df = local_frame(spark, rows, SILVER)
    return shares.compact_aggregate(df).cache()


def cube(agg):
    return shares.grouping_set(agg, shares.CUBE)


def test_compact_aggregate_sets(agg):
    sets = {r.grouping_set: r.tokens for r in agg.groupBy("grouping_set").agg(F.sum("tokens").alias("tokens")).collect()}
    assert sets == {1: 1800, 2: 1800, 3: 1800}  # every token in each grouping set


def test_weekly_segment_share(spark, agg):
    out = shares.weekly_segment_share(cube(agg)).select("week_start", "segment", "tokens", "share", "share_4w")
    expected = local_frame(
        spark,
        [
            (W1, "closed", 600, 0.6, 0.6), (W1, "oss_china", 300, 0.3, 0.3), (W1, "oss_row", 100, 0.1, 0.1),
            (W2, "closed", 400, 1.0, 1000 / 1400),
            # Week 5: the window W2..W5 holds 400 closed + 400 oss_row; W1 is 4 weeks back, outside it.
            (W5, "oss_row", 400, 1.0, 400 / 800),
        ],
        "week_start date, segment string, tokens long, share double, share_4w double",
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_oss_share_and_concentration_with_tie(spark, agg):
    conc = shares.weekly_oss_concentration(shares.weekly_oss_model_share(cube(agg)))
    expected = local_frame(
        spark,
        [
            # 150/400, 150/400, 100/400: tie broken by the smaller slug; HHI = 2*(3/8)^2 + (1/4)^2.
            (W1, "q/one", 0.375, 2 * 0.375**2 + 0.25**2, 3, 3),
            (W5, "m/row", 1.0, 1.0, 1, 1),  # week 2 (closed only) has no row
        ],
        "week_start date, top_model string, top_share double, hhi double, models_over_5pct long, oss_models long",
    )
    assert_approx_df_equality(conc, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_size_share(spark, agg):
    out = shares.weekly_size_share(cube(agg)).select("week_start", "size_bucket", "share")
    expected = local_frame(
        spark,
        [(W1, "large", 0.375), (W1, "small", 0.375), (W1, "medium", 0.25), (W5, "medium", 1.0)],
        "week_start date, size_bucket string, share double",
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_category_share_skips_unlabelled_week(spark, agg):
    out = shares.weekly_category_share(cube(agg)).select("week_start", "category", "tokens", "share",
                                                          "labelled_requests")
    expected = local_frame(
        spark,
        [(W1, "Programming", 600, 600 / 900, 3), (W1, "Roleplay", 300, 300 / 900, 3),
         (W5, "Programming", 400, 1.0, 1)],
        "week_start date, category string, tokens long, share double, labelled_requests long",
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_mixes(spark, agg):
    seg = shares.category_segment_mix(cube(agg)).select("segment", "category", "share")
    expected = local_frame(
        spark,
        [("closed", "Programming", 1.0), ("oss_china", "Roleplay", 1.0), ("oss_row", "Programming", 1.0)],
        "segment string, category string, share double",
    )
    assert_approx_df_equality(seg, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)
    sub = shares.subcategory_share(cube(agg)).select("category", "subcategory", "share")
    expected = local_frame(
        spark,
        [("Programming", "Programming/Other", 0.6), ("Programming", "Programming/Development Tools", 0.4),
         ("Roleplay", "Games/Roleplaying Games", 0.5), ("Roleplay", "Adult", 0.5)],
        "category string, subcategory string, share double",
    )
    assert_approx_df_equality(sub, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_author_programming_share(spark, agg):
    out = shares.weekly_author_programming_share(cube(agg)).select("week_start", "author", "share", "spend_share")
    expected = local_frame(
        spark,
        [(W1, "c", 1.0, 1.0), (W5, "m", 1.0, 1.0)], "week_start date, author string, share double, spend_share double"
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_reasoning_and_tool_call_shares(spark, agg):
    reasoning = shares.weekly_reasoning_share(cube(agg))
    expected = local_frame(
        spark,
        [(W1, 1000, 600, 0.6), (W2, 400, 0, 0.0), (W5, 400, 0, 0.0)],
        "week_start date, tokens long, reasoning_tokens long, share double",
    )
    assert_approx_df_equality(reasoning, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)
    tool = shares.weekly_tool_call_share(cube(agg), shares.grouping_set(agg, shares.ACTIVITY))
    # Account "big" has the most tokens (600 + 200); left out, week 1 has 400 tokens and no tool calls.
    expected = local_frame(
        spark,
        [(W1, 1000, 600, 0.6, 0.0, 600), (W2, 400, 200, 0.5, 0.0, 200), (W5, 400, 400, 1.0, 1.0, 0)],
        "week_start date, tokens long, tool_call_tokens long, share double, share_excl_top_account double, "
        "top_account_tokens long",
    )
    assert_approx_df_equality(tool, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_region_and_language(spark, agg):
    region = shares.weekly_region_share(cube(agg)).filter(F.col("week_start") == W1).select(
        "region", "tokens", "spend", "token_share", "spend_share")
    expected = local_frame(
        spark,
        # BYOK spend (9.0 in Europe) is left out of spend.
        [("North America", 600, 6.0, 0.6, 0.75), ("Asia", 300, 2.0, 0.3, 0.25), ("Europe", 100, 0.0, 0.1, 0.0)],
        "region string, tokens long, spend double, token_share double, spend_share double",
    )
    assert_approx_df_equality(region, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)
    lang = shares.language_share(cube(agg))
    expected = local_frame(spark, [("en", 1650, 1650 / 1800), ("zh-Hans", 150, 150 / 1800)],
                                     "language string, tokens long, share double")
    assert_approx_df_equality(lang, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_sequence_length_means(spark, agg):
    out = shares.weekly_sequence_length(cube(agg), shares.grouping_set(agg, shares.PROMPT_HIST)).select(
        "week_start", "category", "requests", "avg_prompt_tokens", "avg_completion_tokens")
    expected = local_frame(
        spark,
        [(W1, "All", 4, 780 / 4, 220 / 4), (W1, "Programming", 1, 500.0, 100.0), (W1, "Roleplay", 2, 100.0, 50.0),
         (W2, "All", 2, 125.0, 75.0), (W5, "All", 1, 300.0, 100.0), (W5, "Programming", 1, 300.0, 100.0)],
        "week_start date, category string, requests long, avg_prompt_tokens double, avg_completion_tokens double",
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_percentiles_within_stated_accuracy(spark):
    rng = np.random.default_rng(7)
    prompts = np.round(rng.lognormal(7.5, 1.1, 4000)).astype(int) + 1
    rows = [row(W1, "c/closed", "closed", int(p), 10) for p in prompts]
    agg = shares.compact_aggregate(local_frame(spark, rows, SILVER))
    out = shares.weekly_sequence_length(shares.grouping_set(agg, shares.CUBE),
                                        shares.grouping_set(agg, shares.PROMPT_HIST)).first()
    # numpy's lower percentile: the smallest value with at least q of the sample at or below it.
    for q, got in ((0.5, out.p50_prompt_tokens), (0.9, out.p90_prompt_tokens)):
        exact = np.sort(prompts)[int(np.ceil(q * len(prompts))) - 1]
        assert abs(got / exact - 1) <= 2 ** (1 / 32) - 1 + 1e-9  # half a bin: +-2.2%


def test_ratio_interval_matches_bootstrap(spark):
    """The linearised interval's width agrees with a bootstrap over the sampled requests."""
    rng = np.random.default_rng(11)
    n = 400
    tokens = rng.lognormal(7, 1.2, n)
    in_cat = rng.random(n) < 0.3
    share = tokens[in_cat].sum() / tokens.sum()
    df = local_frame(
        spark,
        [(float(share), float((tokens[in_cat] ** 2).sum()), float((tokens**2).sum()), float(tokens.sum()), float(n))],
        "share double, sq_in double, sq_all double, total double, n double",
    )
    low, high = shares.ratio_share_interval(F.col("share"), F.col("sq_in"), F.col("sq_all"), F.col("total"),
                                            F.col("n"))
    got = df.select(low.alias("low"), high.alias("high")).first()
    boot = []
    for _ in range(4000):
        idx = rng.integers(0, n, n)
        boot.append(tokens[idx][in_cat[idx]].sum() / tokens[idx].sum())
    boot_se = np.std(boot)
    formula_se = (got.high - got.low) / (2 * shares.Z95)
    assert abs(formula_se / boot_se - 1) < 0.1
    assert got.low < share < got.high


def test_empty_input_gives_empty_tables(spark):
    empty = local_frame(spark, [], SILVER)
    agg = shares.compact_aggregate(empty)
    assert shares.weekly_segment_share(shares.grouping_set(agg, shares.CUBE)).count() == 0


def test_the_top_account_is_never_the_unknown_account(spark):
    # The requests without an account (null key) have the most tokens, but they are no
    # one's: the top account is "a" with 30 tokens in week 1.
    week = "array<struct<week_start: date, tokens: long, tool_call_tokens: long>>"
    rows = [(None, 1000, [(W1, 1000, 0)]), ("a", 30, [(W1, 30, 30)]), ("b", 20, [(W1, 20, 0)])]
    activity = local_frame(spark, rows, f"account_key string, tokens long, weeks {week}")
    got = [tuple(r) for r in shares.top_account_weekly(activity).collect()]
    assert got == [(W1, 30, 30)]
