"""The contract's JSON Lines through parse_json_lines and validation: the typed read of
the common line, and the text read of every line it cannot take, give the reasons and
values the contract's rules say (worked out by hand below)."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs.common.session import local_frame
from transforms import schema, validate
from transforms.formats import gateway

BASE = ('"generation_id": "g{i}", "created_at": "2025-05-05T10:00:00Z", "account_id": "a", '
        '"model": "qwen/qwen3-coder", "tokens_completion": 5')

# (the rest of the line, read typed?, reason, tokens_prompt, total_cost, is_byok, native_tokens_cached)
LINES = [
    ('"tokens_prompt": 10, "total_cost": 0.5, "is_byok": true', True, None, 10, 0.5, True, 0),
    ('"tokens_prompt": 10, "total_cost": 3, "native_tokens_cached": 4', True, None, 10, 3.0, False, 4),
    ('"tokens_prompt": 9223372036854775807, "total_cost": 1e-3', True, None, 2**63 - 1, 0.001, False, 0),
    ('"tokens_prompt": -1, "total_cost": 0.5', True, "negative_tokens_prompt", -1, 0.5, False, 0),
    ('"tokens_prompt": null, "total_cost": 0.5', True, "missing_tokens_prompt", None, 0.5, False, 0),
    ('"tokens_prompt": 10, "total_cost": "NaN"', True, "bad_total_cost", 10, None, False, 0),
    ('"tokens_prompt": 10, "total_cost": 1e400', True, "bad_total_cost", 10, None, False, 0),
    # the typed read fails on these; the text read decides, as for any format
    ('"tokens_prompt": "12", "total_cost": "0.25", "is_byok": "TRUE"', False, None, 12, 0.25, True, 0),
    ('"tokens_prompt": 12.5, "total_cost": 0.5', False, "bad_tokens_prompt", None, 0.5, False, 0),
    ('"tokens_prompt": 9223372036854775808, "total_cost": 0.5', False, "bad_tokens_prompt", None, 0.5, False, 0),
    ('"tokens_prompt": {"n": 1}, "total_cost": 0.5', False, "bad_tokens_prompt", None, 0.5, False, 0),
    ('"tokens_prompt": 10, "total_cost": 0.5, "is_byok": 1', False, "bad_is_byok", 10, 0.5, False, 0),  # (default)
    ('"tokens_prompt": " ", "total_cost": 0.5', False, "missing_tokens_prompt", None, 0.5, False, 0),
]


@pytest.fixture(scope="module")
def parsed(spark):
    lines = [("{" + BASE.format(i=i) + ", " + rest + "}",) for i, (rest, *_) in enumerate(LINES)]
    lines += [('{"generation_id": "g99", "model": ',), ("   ",)]  # broken, blank
    df = local_frame(spark, [(text, "f.jsonl", pos) for pos, (text,) in enumerate(lines)],
                     "value string, source_file string, row_pos long")
    raw = gateway.parse_json_lines(df, schema.EVENT_FIELDS)
    out = validate.validated(raw, schema.EVENT_FIELDS, schema.NON_NEGATIVE_EVENT_COLUMNS,
                             defaults=schema.EVENT_DEFAULTS)
    read = {r["row_pos"]: r for r in raw.select("row_pos", validate.TYPED_OK).collect()}
    return read, {r["row_pos"]: r for r in out.collect()}


@pytest.mark.parametrize("pos", range(len(LINES)))
def test_each_line_gets_the_contract_reason_and_values(parsed, pos):
    read, rows = parsed
    _, typed_read, reason, tokens, cost, byok, cached = LINES[pos]
    row = rows[pos]
    assert bool(read[pos][validate.TYPED_OK]) is typed_read
    assert row["reason"] == reason
    assert (row["tokens_prompt"], row["is_byok"], row["native_tokens_cached"]) == (tokens, byok, cached)
    if cost is None:  # NaN or infinity: bad, whatever its typed value
        assert row["total_cost"] is None or not (0 <= row["total_cost"] < float("inf"))
    else:
        assert row["total_cost"] == cost
    assert row["created_at"] == dt.datetime(2025, 5, 5, 10, 0)
    assert row["model"] == "qwen/qwen3-coder" and row["tokens_completion"] == 5


def test_broken_and_blank_lines_are_malformed_and_keep_their_text(parsed):
    _, rows = parsed
    broken, blank = rows[len(LINES)], rows[len(LINES) + 1]
    assert (broken["reason"], blank["reason"]) == ("malformed_record", "malformed_record")
    assert broken["raw"] == '{"generation_id": "g99", "model": ' and blank["raw"] == "   "
    assert broken["generation_id"] is None


def test_a_table_part_without_the_typed_read_takes_the_text_path(spark):
    # read_raw unions a JSON part (with TYPED) and a CSV or Parquet part (without)
    json_part = gateway.parse_json_lines(local_frame(
        spark, [("{" + BASE.format(i=1) + ', "tokens_prompt": 7, "total_cost": 0.5}', "a.jsonl", 0)],
        "value string, source_file string, row_pos long"), schema.EVENT_FIELDS)
    table = local_frame(spark, [("g2", "2025-05-05T10:00:00Z", "qwen/qwen3-coder", "8", "5", "0.5", "b.csv", 0)],
                        "generation_id string, created_at string, model string, tokens_prompt string, "
                        "tokens_completion string, total_cost string, source_file string, row_pos long")
    both = json_part.unionByName(gateway.from_columns(table, schema.EVENT_FIELDS), allowMissingColumns=True)
    out = validate.validated(both, schema.EVENT_FIELDS, schema.NON_NEGATIVE_EVENT_COLUMNS)
    got = sorted((r["generation_id"], r["reason"], r["tokens_prompt"]) for r in out.collect())
    assert got == [("g1", None, 7), ("g2", None, 8)]
    assert validate.TYPED not in out.columns and validate.TYPED_OK not in out.columns
    assert out.filter(F.col("total_cost") != 0.5).count() == 0
