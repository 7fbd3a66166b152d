"""Random rows and random bytes never crash ingest, and every row lands in exactly one place.

The examples of a test ingest into one warehouse, each as a run of its own
(`run_id`): a table is created once, not per example, and each example's rows are
found in bronze and quarantine by their `ingest_run_id`. (Ids repeated across
examples are then duplicates of bronze: still exactly one place per line.)"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import ingest

# Line breaks end a record in JSON Lines (Spark splits on \n, \r and \r\n), so a
# generated line holds none; every other code point, control characters included, may appear.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40)
VALUE = st.one_of(
    st.none(), st.booleans(), TEXT, st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=2),
)
FIELDS = ["generation_id", "created_at", "account_id", "model", "tokens_prompt", "tokens_completion", "total_cost",
          "is_byok", "billing_country", "language", "native_tokens_cached"]
GOOD = {"created_at": "2025-05-05T10:00:00Z", "account_id": "a", "model": "qwen/qwen3-coder", "tokens_prompt": 1,
        "tokens_completion": 1, "total_cost": 0.0}
ROW = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), VALUE, max_size=len(FIELDS)).map(json.dumps),  # random objects
    st.builds(lambda gid, extra: json.dumps({**GOOD, "generation_id": gid, **extra}),  # mostly valid ones,
              st.sampled_from(["g1", "g2", "g3"]),                                      # with repeated ids
              st.dictionaries(st.sampled_from(FIELDS[1:]), VALUE, max_size=2)),
    TEXT,  # arbitrary text
)


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


def ingest_example(spark, cfg, wh, write) -> tuple:
    """Ingest one example's file as a run of its own: (accounting, its bronze rows, its quarantine rows)."""
    run_id = uuid.uuid4().hex
    path = wh / f"{run_id}.jsonl"
    write(path)
    acc = ingest.run(spark, {**cfg, "warehouse": str(wh / "wh"), "run_id": run_id,
                             "inputs": {"events": str(path), "labels": None}})["events"]

    def rows(table):
        target = wh / "wh" / table
        if not (target / "_delta_log").is_dir():
            return 0
        return spark.read.format("delta").load(str(target)).filter(f"ingest_run_id = '{run_id}'").count()

    return acc, rows("bronze/events"), rows("quarantine/events")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ROW, min_size=1, max_size=25))
def test_every_line_lands_once(spark, cfg, wh, lines):
    acc, bronze, quarantine = ingest_example(
        spark, cfg, wh, lambda path: path.write_text("\n".join(lines) + "\n", encoding="utf-8"))
    assert acc.read == len(lines)
    # Bronze and quarantine counted by reading the tables; every other line is a duplicate
    # of a valid id (in this example, or in bronze from an earlier one).
    assert (bronze, quarantine) == (acc.added, acc.quarantined)
    assert acc.duplicates == len(lines) - bronze - quarantine


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=300))
def test_random_bytes_never_crash(spark, cfg, wh, data):
    acc, bronze, quarantine = ingest_example(spark, cfg, wh, lambda path: path.write_bytes(data))
    assert acc.added == bronze == 0  # random bytes are never a valid request
    # Every line, as Hadoop's line reader splits them (\n, \r\n or \r; no final empty line),
    # counted here without Spark, is quarantined.
    lines = re.split(rb"\r\n|\r|\n", data)
    expected = len(lines) - (1 if lines and lines[-1] == b"" else 0)
    assert acc.read == acc.quarantined == quarantine == expected


def test_the_session_runs_in_ansi_mode(spark):
    # Spark 4's default, kept: the tests above prove that bad values still reach
    # quarantine (try_cast and friends) instead of failing the job with a cast error.
    assert spark.conf.get("spark.sql.ansi.enabled") == "true"
