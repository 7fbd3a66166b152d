"""Row validation rules, typing and duplicate ranking, on hand-written raw rows."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common.session import local_frame
from transforms import schema, validate

TEXT_EVENT = schema.text_struct_of(schema.EVENT_FIELDS)
RAW_SCHEMA = T.StructType(
    [T.StructField("is_malformed", T.BooleanType())] + TEXT_EVENT.fields
)

GOOD = {
    "generation_id": "g1", "created_at": "2025-05-05T10:00:00Z", "account_id": "a",
    "model": "qwen/qwen3-coder", "tokens_prompt": "10", "tokens_completion": "5",
    "total_cost": "0.5",
}


def raw_row(is_malformed=False, **changes):
    values = {**GOOD, **changes}
    return (is_malformed, *[values.get(name) for name in schema.EVENT_COLUMNS])


def reasons(spark, rows):
    """The reason of each raw row, in the rows' order: one frame and one query, each row
    told apart by its index (an extra column, which validated keeps)."""
    indexed = T.StructType(RAW_SCHEMA.fields + [T.StructField("row", T.IntegerType())])
    df = local_frame(spark, [(*r, i) for i, r in enumerate(rows)], indexed)
    out = validate.validated(df, schema.EVENT_FIELDS, schema.NON_NEGATIVE_EVENT_COLUMNS)
    found = {r["row"]: r["reason"] for r in out.select("row", "reason").collect()}
    return [found[i] for i in range(len(rows))]


# One raw row per case, each breaking at most one rule (or none), and the reason expected.
CASES = [
    ({}, None),
    ({"is_malformed": True}, "malformed_record"),
    ({"generation_id": None}, "missing_generation_id"),
    ({"account_id": "   "}, None),  # optional: a blank account is an unknown account, not a bad row
    ({"model": ""}, "missing_model"),
    ({"created_at": None}, "missing_created_at"),
    ({"created_at": "2025-13-01T00:00:00Z"}, "bad_created_at"),
    ({"created_at": "yesterday"}, "bad_created_at"),
    ({"tokens_prompt": None}, "missing_tokens_prompt"),
    ({"tokens_prompt": "12.5"}, "bad_tokens_prompt"),
    ({"tokens_prompt": "1e3"}, "bad_tokens_prompt"),
    ({"tokens_prompt": "9223372036854775808"}, "bad_tokens_prompt"),  # 2^63: overflows long
    ({"tokens_prompt": "9223372036854775807"}, None),  # 2^63 - 1 fits
    ({"tokens_prompt": "-1"}, "negative_tokens_prompt"),
    ({"tokens_completion": "-3"}, "negative_tokens_completion"),
    ({"native_tokens_reasoning": "-1"}, "negative_native_tokens_reasoning"),
    ({"native_tokens_cached": "x"}, "bad_native_tokens_cached"),
    ({"total_cost": "free"}, "bad_total_cost"),
    ({"total_cost": "NaN"}, "bad_total_cost"),
    ({"total_cost": "-0.01"}, "negative_total_cost"),
    ({"total_cost": "0"}, None),
    ({"is_byok": "maybe"}, "bad_is_byok"),
    ({"is_byok": "TRUE"}, None),
    ({"latency_ms": "fast"}, "bad_latency_ms"),
]


@pytest.fixture(scope="module")
def case_reasons(spark):
    """The reason of every case's row, all validated in one query."""
    rows = []
    for changes, _ in CASES:
        changes = dict(changes)
        rows.append(raw_row(changes.pop("is_malformed", False), **changes))
    return reasons(spark, rows)


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{i}-{expected}" for i, (_, expected) in enumerate(CASES)])
def test_each_rule_gives_its_reason(case_reasons, case):
    assert case_reasons[case] == CASES[case][1], CASES[case][0]


def test_first_broken_rule_wins(spark):
    # Missing model comes before a negative token count in the rule order.
    assert reasons(spark, [raw_row(model=None, tokens_prompt="-1")]) == ["missing_model"]


def test_typed_fields_cast_and_default(spark):
    df = local_frame(
        spark,
        [raw_row(tokens_prompt=" 42 ", is_byok="true", billing_country="", created_at="2025-05-12T09:00:00+02:00")],
        RAW_SCHEMA,
    )
    row = validate.validated(df, schema.EVENT_FIELDS, schema.NON_NEGATIVE_EVENT_COLUMNS,
                             defaults=schema.EVENT_DEFAULTS).first()
    assert row["reason"] is None
    assert row["tokens_prompt"] == 42
    assert row["is_byok"] is True
    assert row["created_at"] == dt.datetime(2025, 5, 12, 7, 0, 0)  # UTC session time
    assert row["billing_country"] == "ZZ"  # blank -> contract default
    assert row["language"] == "und"
    assert row["native_tokens_reasoning"] == 0
    assert row["provider_name"] is None


def test_duplicate_flags_keep_the_first_seen_and_know_bronze(spark):
    batch = local_frame(
        spark,
        [("g1", "b.jsonl", 0), ("g1", "a.jsonl", 7), ("g1", "a.jsonl", 3), ("g2", "a.jsonl", 1), ("g3", "a.jsonl", 2),
         ("g4", "a.jsonl", 4)],
        "generation_id string, source_file string, row_pos long",
    )
    bronze = local_frame(spark, [("g2",), ("g4",), ("g9",)], "generation_id string")
    flags = validate.duplicate_flags(batch, ["generation_id"], bronze)
    # g1: three copies, the first seen is the smallest (file, position) = (a.jsonl, 3);
    # g2, g4: once in the batch, already in bronze; g3: once, new (no row); g9: not in the batch.
    expected = local_frame(
        spark,
        [("g1", "a.jsonl", 3, False), ("g2", None, None, True), ("g4", None, None, True)],
        "generation_id string, _first_file string, _first_pos long, in_bronze boolean",
    )
    assert_df_equality(flags, expected, ignore_row_order=True, ignore_nullable=True)
    marked = batch.join(flags, on="generation_id", how="left").withColumn("repeat", validate.is_repeat())
    repeats = sorted((r.generation_id, r.source_file, r.row_pos) for r in marked.filter("repeat").collect())
    assert repeats == [("g1", "a.jsonl", 7), ("g1", "b.jsonl", 0)]  # every copy but the first seen
    no_bronze = validate.duplicate_flags(batch, ["generation_id"])
    assert [(r.generation_id, r.in_bronze) for r in no_bronze.collect()] == [("g1", False)]


def test_outcome_is_exactly_one_place(spark):
    df = local_frame(
        spark,
        [(False, 1, False, "quarantine"), (False, 2, True, "quarantine"), (True, 2, False, "duplicate"),
         (True, 1, True, "duplicate"), (True, 1, False, "bronze")],
        "is_valid boolean, duplicate_rank int, in_bronze boolean, expected string",
    ).withColumn("outcome", validate.outcome(F.col("is_valid"), F.col("duplicate_rank"), F.col("in_bronze")))
    assert_column_equality(df, "outcome", "expected")
