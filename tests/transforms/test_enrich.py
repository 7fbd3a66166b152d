"""Every silver column on hand-written rows, including nulls and edges."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F

from jobs.common.session import local_frame
from transforms import enrich

MODELS = (
    "model string, author string, open_weights boolean, origin_country string, "
    "params_total_b double, params_active_b double, reasoning boolean"
)


def models_df(spark):
    return local_frame(
        spark,
        [
            ("a/small", "a", True, "US", 14.99, None, False),
            ("a/fifteen", "a", True, "US", 15.0, None, False),
            ("a/seventy", "a", True, "FR", 70.0, 12.0, True),
            ("b/cn", "b", True, "CN", 69.9, None, False),
            ("b/hk", "b", True, "HK", None, None, False),
            ("b/tw", "b", True, "TW", 8.0, None, False),
            ("c/closed", "c", False, "US", None, None, True),
        ],
        MODELS,
    )


def test_segment_size_and_catalog_resolution(spark):
    events = local_frame(
        spark,
        [("a/small",), ("a/fifteen",), ("a/seventy",), ("b/cn",), ("b/hk",), ("b/tw",),
         ("c/closed",), ("c/closed:free",), ("A/Small:beta",), ("z/unknown",)],
        "model string",
    )
    out = events.transform(enrich.with_model_attributes, models_df(spark)).transform(enrich.with_segment_and_size)
    expected = local_frame(
        spark,
        [
            ("a/small", "a/small", "a", "oss_row", "small", False, True),
            ("a/fifteen", "a/fifteen", "a", "oss_row", "medium", False, True),
            ("a/seventy", "a/seventy", "a", "oss_row", "large", True, True),
            ("b/cn", "b/cn", "b", "oss_china", "medium", False, True),
            ("b/hk", "b/hk", "b", "oss_china", None, False, True),  # open, size unknown
            ("b/tw", "b/tw", "b", "oss_china", "small", False, True),
            ("c/closed", "c/closed", "c", "closed", None, True, True),
            ("c/closed:free", "c/closed", "c", "closed", None, True, True),
            ("A/Small:beta", "a/small", "a", "oss_row", "small", False, True),
            ("z/unknown", "z/unknown", "z", "unknown", None, False, False),
        ],
        "model_variant string, model string, author string, segment string, size_bucket string, "
        "is_reasoning_model boolean, in_catalog boolean",
    )
    assert_df_equality(
        out.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_time_keys_at_week_boundary(spark):
    df = local_frame(
        spark,
        [(dt.datetime(2025, 5, 11, 23, 59, 59), dt.date(2025, 5, 5), dt.date(2025, 5, 1)),
         (dt.datetime(2025, 5, 12, 0, 0, 0), dt.date(2025, 5, 12), dt.date(2025, 5, 1)),
         (dt.datetime(2025, 6, 1, 0, 0, 0), dt.date(2025, 5, 26), dt.date(2025, 6, 1)),
         (dt.datetime(2024, 12, 31, 12, 0, 0), dt.date(2024, 12, 30), dt.date(2024, 12, 1))],
        "created_at timestamp, expected_week date, expected_month date",
    ).transform(enrich.with_time_keys)
    assert_column_equality(df, "week_start", "expected_week")
    assert_column_equality(df, "month", "expected_month")


def test_tokens_include_completion(spark):
    df = local_frame(spark, [(100, 50, 150), (0, 0, 0)], "tokens_prompt long, tokens_completion long, expected long")
    assert_column_equality(enrich.with_tokens(df), "tokens", "expected")


def test_region_lookup_and_unknowns(spark):
    regions = local_frame(
        spark,
        [("US", "North America"), ("BR", "South America"), ("NA", "Africa"), ("ZZ", "Unknown")],
        "country string, region string",
    )
    df = local_frame(
        spark,
        [("us", "North America"), ("BR", "South America"), ("NA", "Africa"), (None, "Unknown"),
         ("", "Unknown"), ("QQ", "Unknown"), ("ZZ", "Unknown")],
        "billing_country string, expected string",
    )
    assert_column_equality(enrich.with_region(df, regions), "region", "expected")


def test_language_normalisation(spark):
    df = local_frame(
        spark,
        [("en", "en"), ("EN-us", "en-US"), ("zh_hans", "zh-Hans"), ("zh-Hant-TW", "zh-Hant-TW"),
         ("es-419", "es-419"), (None, "und"), ("  ", "und"), ("und", "und"), (" FR ", "fr"), ("EN", "en")],
        "language string, expected string",
    )
    assert_column_equality(df.withColumn("language", enrich.normalised_language(F.col("language"))),
                           "language", "expected")


def test_account_key_is_rfc2104_hmac(spark):
    key = b"k" * 70  # longer than a block: exercises the hashed-key branch
    ids = ["acct-1", "ünïcode", ""]
    df = local_frame(spark, [(i,) for i in ids], "account_id string")
    out = enrich.with_account_key(df, key)
    assert "account_id" not in out.columns
    got = [r.account_key for r in out.collect()]
    assert got == [hmac.new(key, i.encode(), hashlib.sha256).hexdigest() for i in ids]
    short = enrich.with_account_key(df, b"short").first().account_key
    assert short == hmac.new(b"short", b"acct-1", hashlib.sha256).hexdigest()


def test_tool_call_flag(spark):
    df = local_frame(
        spark,
        [("tool_calls", True), ("TOOL_CALLS", True), ("stop", False), (None, False)],
        "finish_reason string, expected boolean",
    )
    assert_column_equality(enrich.with_tool_call_flag(df), "is_tool_call", "expected")


TAXONOMY = [("/", "Others"), ("/Games", "Roleplay"), ("/Games/Word Games", "Trivia"),
            ("/Computers & Electronics/Programming", "Programming")]


def test_chosen_labels_rules(spark):
    taxonomy = local_frame(spark, TAXONOMY, "prefix string, bucket string")
    labels = local_frame(
        spark,
        [
            ("g1", "/Games/Word Games/Crosswords", 0.8),   # deepest rule wins
            ("g1", "/Games/Roleplaying Games", 0.6),
            ("g2", "/Games/Roleplaying Games", 0.7),      # tie on confidence:
            ("g2", "/Computers & Electronics/Programming/Other", 0.7),  # smaller path wins
            ("g3", "/Games", 0.49),                       # all under threshold: unlabelled
            ("g4", "/Gamesmanship/Other", 0.9),           # not a segment-boundary match
            ("g5", "/Adult", 0.5),                        # exactly the threshold counts
        ],
        "generation_id string, category string, confidence double",
    )
    out = enrich.chosen_labels(labels, taxonomy, 0.5)
    expected = local_frame(
        spark,
        [
            ("g1", "Trivia", "Word Games/Crosswords", "/Games/Word Games/Crosswords", 0.8),
            ("g2", "Programming", "Programming/Other", "/Computers & Electronics/Programming/Other", 0.7),
            ("g4", "Others", "Gamesmanship/Other", "/Gamesmanship/Other", 0.9),
            ("g5", "Others", "Adult", "/Adult", 0.5),
        ],
        "generation_id string, category string, subcategory string, category_path string, label_confidence double",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_with_category_keeps_unlabelled_rows(spark):
    events = local_frame(spark, [("g1",), ("g2",)], "generation_id string")
    chosen = local_frame(spark, [("g1", "Roleplay", "x/y", "/x/y", 0.9)],
                                   "generation_id string, category string, subcategory string, "
                                   "category_path string, label_confidence double")
    out = {r.generation_id: (r.category, r.is_labelled) for r in enrich.with_category(events, chosen).collect()}
    assert out == {"g1": ("Roleplay", True), "g2": (None, False)}


def test_model_aliases(spark):
    aliases = local_frame(
        spark,
        [("openai/gpt-4o-mini", "openai/gpt-4o-mini"), ("gpt-4o-mini", "openai/gpt-4o-mini"),
         ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"), ("anthropic/claude-sonnet-4", "anthropic/claude-sonnet-4")],
        "alias string, target string",
    )
    df = local_frame(
        spark,
        [("gpt-4o-mini", "openai/gpt-4o-mini"), ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"),
         ("anthropic/claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"),  # provider prefix + dated id
         ("openrouter/openai/gpt-4o-mini", "openai/gpt-4o-mini"), ("OpenAI/GPT-4o-mini:free", "openai/gpt-4o-mini"),
         ("acme/internal-v2", "acme/internal-v2"),
         ("openai/gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"),  # a dated id ending yyyy-mm-dd
         ("acme/llama-3", "acme/llama-3")],  # ends in a digit, not a date
        "model string, expected string",
    )
    out = enrich.with_resolved_model(df, aliases)
    assert_column_equality(out, "model", "expected")
    # the name as sent is kept beside the resolved slug, row by row (whatever the row order)
    assert {(r.model_variant, r.model) for r in out.collect()} == {
        ("gpt-4o-mini", "openai/gpt-4o-mini"), ("claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"),
        ("anthropic/claude-sonnet-4-20250514", "anthropic/claude-sonnet-4"),
        ("openrouter/openai/gpt-4o-mini", "openai/gpt-4o-mini"), ("OpenAI/GPT-4o-mini:free", "openai/gpt-4o-mini"),
        ("acme/internal-v2", "acme/internal-v2"),
        ("openai/gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"), ("acme/llama-3", "acme/llama-3")}
