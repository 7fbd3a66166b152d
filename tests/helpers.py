"""Helpers shared by the tests: input rows, Delta reads and the tiny gold tables of the
figure tests. One module, so the test modules never import each other."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

RAW_ACCOUNT = "raw-account-id-7f3a"

# Test-only flags for every JVM the tests start: the session's of each pytest-xdist
# worker, a job's driver in a process of its own, the cluster test's driver, executors,
# master and workers. They share two cores that the suite keeps busy, so the optimising
# JIT compiler (C2) and a parallel collector's threads cost more CPU than they return
# (C2's compiling was 66 of a session JVM's 130 CPU seconds over tests/jobs/test_ingest.py;
# that module in two workers: 111 s with the defaults, 80 s with these flags). C1 alone
# gets a 48 MB code cache instead of 240 MB, which Spark's code fills: the code cache
# sweeper then flushes and recompiles (up to 10 s of CPU a pipeline run), so the larger
# cache is asked for. Measured in bench/results.md.
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=256m"


def event(i, day, model="qwen/qwen3-coder", account=RAW_ACCOUNT, **changes):
    """Request g<i> of the contract's events, on May <day> 2025 at noon; `changes` replace
    or add fields (a bad value, an empty account, an extra column)."""
    return {
        "generation_id": f"g{i}", "created_at": f"2025-05-{day:02d}T12:00:00Z", "account_id": account,
        "model": model, "tokens_prompt": 100 * i, "tokens_completion": 10, "total_cost": 0.001,
        "billing_country": "fr", "language": "FR", **changes,
    }


def write(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def table(spark, path, columns=None):
    """A Delta table, its columns sorted."""
    df = spark.read.format("delta").load(path)
    return df.select(*sorted(columns or df.columns))


def latest_version(path) -> int:
    """The newest committed version of a Delta table, read by delta-rs (no Spark job)."""
    from deltalake import DeltaTable

    return DeltaTable(str(path)).version()


def gold(path, version=None) -> pd.DataFrame:
    """A gold table (at a version) read with delta-rs, as the plotting step reads it: no
    Spark query, and a reader independent of the one that wrote it."""
    from jobs.plot import read_table

    return read_table(path, version)


def assert_same_gold(a: pd.DataFrame, b: pd.DataFrame):
    """Gold tables (from `gold`) equal up to the last bits of sums of doubles, which depend
    on the order of addition.

    Rows are put in order by their columns that are not floating point (keys and exact
    counts): sorting on a double too would let a last-bit difference reorder rows and
    pair the wrong ones."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b), f"{len(a)} rows against {len(b)}"
    exact = [c for c in a.columns if not pd.api.types.is_float_dtype(a[c]) or not pd.api.types.is_float_dtype(b[c])]

    def ordered(df):
        return df.sort_values(exact, na_position="first", kind="stable").reset_index(drop=True) if exact else df

    pd.testing.assert_frame_equal(ordered(a), ordered(b), check_exact=False, rtol=1e-9, atol=0)


# Tiny gold tables, by hand, for the figure and report tests.
W = [dt.date(2025, 5, 5), dt.date(2025, 5, 12)]


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


GOLD = {
    "weekly_segment_share": frame(
        [(W[0], "closed", 70, 0.7, 0.7), (W[0], "oss_china", 20, 0.2, 0.2), (W[0], "oss_row", 10, 0.1, 0.1),
         (W[1], "closed", 60, 0.6, 0.65), (W[1], "oss_china", 30, 0.3, 0.25), (W[1], "oss_row", 10, 0.1, 0.1)],
        ["week_start", "segment", "tokens", "share", "share_4w"]),
    "weekly_oss_model_share": frame(
        [(W[0], "deepseek/deepseek-r1", "oss_china", 20, 2 / 3, 2 / 3), (W[0], "mistralai/mistral-nemo", "oss_row", 10, 1 / 3, 1 / 3),
         (W[1], "deepseek/deepseek-r1", "oss_china", 30, 0.75, 0.7), (W[1], "mistralai/mistral-nemo", "oss_row", 10, 0.25, 0.3)],
        ["week_start", "model", "segment", "tokens", "share", "share_4w"]),
    "weekly_oss_concentration": frame(
        [(W[0], "deepseek/deepseek-r1", 2 / 3, 5 / 9, 2, 2), (W[1], "deepseek/deepseek-r1", 0.75, 0.625, 2, 2)],
        ["week_start", "top_model", "top_share", "hhi", "models_over_5pct", "oss_models"]),
    "weekly_size_share": frame(
        [(W[0], "large", 20, 2 / 3, 2 / 3), (W[0], "small", 10, 1 / 3, 1 / 3), (W[1], "large", 30, 0.75, 0.7),
         (W[1], "small", 10, 0.25, 0.3)], ["week_start", "size_bucket", "tokens", "share", "share_4w"]),
    "weekly_category_share": frame(
        [(W[0], "Programming", 6, 0.6, 0.4, 0.8, 3, 5, 0.6), (W[0], "Roleplay", 4, 0.4, 0.2, 0.6, 2, 5, 0.4),
         (W[1], "Programming", 7, 0.7, 0.5, 0.9, 3, 5, 0.65), (W[1], "Roleplay", 3, 0.3, 0.1, 0.5, 2, 5, 0.35)],
        ["week_start", "category", "tokens", "share", "share_ci_low", "share_ci_high", "requests",
         "labelled_requests", "share_4w"]),
    "category_segment_mix": frame(
        [("closed", "Programming", 10, 1.0, 1.0), ("oss_china", "Roleplay", 6, 0.6, 0.1),
         ("oss_china", "Programming", 4, 0.4, 0.1), ("oss_row", "Roleplay", 5, 1.0, 0.1)],
        ["segment", "category", "tokens", "share", "spend"]),
    "weekly_category_segment_share": frame(
        [(W[0], "Roleplay", "closed", 7, 0.7, 0.7), (W[0], "Roleplay", "oss_row", 3, 0.3, 0.3),
         (W[1], "Roleplay", "closed", 5, 0.5, 0.6), (W[1], "Roleplay", "oss_row", 5, 0.5, 0.4)],
        ["week_start", "category", "segment", "tokens", "share", "share_4w"]),
    "weekly_author_programming_share": frame(
        [(W[0], "anthropic", 8, 0.8, 8.0, 0.9, 0.8), (W[0], "openai", 2, 0.2, 1.0, 0.1, 0.2),
         (W[1], "anthropic", 6, 0.6, 6.0, 0.7, 0.7), (W[1], "openai", 4, 0.4, 2.5, 0.3, 0.3)],
        ["week_start", "author", "tokens", "share", "spend", "spend_share", "share_4w"]),
    "subcategory_share": frame(
        [("Roleplay", "Games/Roleplaying Games", 6, 0.6, 0.1), ("Roleplay", "Adult", 4, 0.4, 0.1),
         ("Programming", "Programming/Other", 10, 1.0, 1.0)], ["category", "subcategory", "tokens", "share", "spend"]),
    "author_category_mix": frame(
        [("anthropic", "Programming", 8, 0.8, 1.0), ("anthropic", "Technology", 2, 0.2, 0.1),
         ("deepseek", "Roleplay", 5, 1.0, 0.1)], ["author", "category", "tokens", "share", "spend"]),
    "weekly_reasoning_share": frame([(W[0], 100, 40, 0.4), (W[1], 100, 55, 0.55)],
                                    ["week_start", "tokens", "reasoning_tokens", "share"]),
    "weekly_tool_call_share": frame([(W[0], 100, 10, 0.1, 0.1, 0), (W[1], 100, 40, 0.4, 0.15, 30)],
                                    ["week_start", "tokens", "tool_call_tokens", "share", "share_excl_top_account",
                                     "top_account_tokens"]),
    "weekly_sequence_length": frame(
        [(W[0], "All", 10, 1500.0, 150.0, 1650.0, 900.0, 3000.0), (W[1], "All", 10, 1600.0, 160.0, 1760.0, 950.0, 3100.0),
         (W[0], "Programming", 3, 5000.0, 200.0, 5200.0, 4000.0, 9000.0),
         (W[1], "Programming", 3, 5500.0, 210.0, 5710.0, 4100.0, 9500.0)],
        ["week_start", "category", "requests", "avg_prompt_tokens", "avg_completion_tokens", "avg_sequence_tokens",
         "p50_prompt_tokens", "p90_prompt_tokens"]),
    "weekly_region_share": frame(
        [(w, r, 10, s, t, s, t) for w in W for r, s, t in (("North America", 4.8, 0.48), ("Europe", 2.1, 0.21),
                                                              ("Asia", 3.1, 0.31))],
        ["week_start", "region", "tokens", "spend", "token_share", "spend_share", "share_4w"]),
    "language_share": frame([("en", 82, 0.82), ("zh-Hans", 5, 0.05), ("de", 13, 0.13)], ["language", "tokens", "share"]),
    "cohort_retention": frame(
        [("m/x", dt.date(2025, 5, 1), k, 50 if k == 0 else None, v, r, s, dt.date(2025, 11, 1))
         for k, v, r, s in ((0, 50, 1.0, False), (1, 20, 0.4, False), (2, None, None, True), (3, 15, 0.3, False))]
        + [("m/x", dt.date(2025, 6, 1), k, 40, v, r, False, dt.date(2025, 11, 1))
           for k, v, r in ((0, 40, 1.0), (1, 8, 0.2), (2, 12, 0.3))],
        ["model", "cohort_month", "months_since", "cohort_size", "active_accounts", "retention", "suppressed",
         "data_end_month"]),
    "cohort_signals": frame(
        [("m/x", dt.date(2025, 5, 1), "foundational", 3, 0.3, 0.15, 3, 0.3, 50, 2, 0.01, None, None,
          "prediction_z", 4.1, 2e-5, 1e-4, 0.05, 12, True, False),
         ("m/x", dt.date(2025, 5, 1), "boomerang", 3, 0.3, 0.2, 2, 0.3, 50, None, None, 5, 10,
          "mcnemar_exact", 1.29, 0.15, 0.6, 0.05, 12, False, False),  # a near miss: not drawn
         ("m/x", dt.date(2025, 6, 1), "boomerang", 2, 0.3, 0.2, 1, 0.3, 40, None, None, 0, 4,
          "mcnemar_exact", None, None, None, 0.05, 12, True, True)],
        ["model", "cohort_month", "signal", "months_since", "value", "baseline", "compared_at", "compared_value",
         "cohort_size", "later_cohorts", "later_spread", "accounts_lost", "accounts_gained", "test", "statistic",
         "p_value", "q_value", "fdr_level", "tests", "passes", "evidence_suppressed"]),
    "category_cost_usage": frame(
        [("Programming", 1000, 1.0, 1.0, "premium", 0.73, 500.0), ("Roleplay", 900, 0.3, 0.33, "mass_market", 0.73, 500.0),
         ("Legal", 10, 0.02, 2.0, "specialist", 0.73, 500.0), ("Trivia", 5, 0.001, 0.2, "niche", 0.73, 500.0)],
        ["category", "tokens", "spend", "cost_per_mtok", "quadrant", "cost_split", "usage_split"]),
    "model_cost_usage": frame(
        [("a/x", "a", "closed", 1e8, 200.0, 2.0, "premium_leader", 0.5, 1e6),
         ("b/y", "b", "oss_china", 5e7, 10.0, 0.2, "efficient_giant", 0.5, 1e6),
         ("c/z", "c", "oss_row", 1e5, 0.001, 0.01, "long_tail", 0.5, 1e6)],
        ["model", "author", "segment", "tokens", "spend", "cost_per_mtok", "archetype", "cost_split", "usage_split"]),
    "price_elasticity": frame(
        [("all", "ols", -0.06, 0.02, "classical", -0.1, -0.02, 0.1, 3, 3, None),
         ("all", "within_model_week", -0.4, 0.1, "cluster(model)", -0.6, -0.2, 0.05, 3, 60, None)],
        ["scope", "method", "elasticity", "std_error", "std_error_kind", "ci_low", "ci_high", "r2", "n_models",
         "n_obs", "note"]),
}
