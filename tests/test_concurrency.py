"""Two ingest runs at once on the same warehouse: nothing counted twice, nothing lost.

Two real `python -m jobs.ingest` (or `jobs.pipeline`) processes start together. Whichever
commits to bronze first adds the rows; the other's MERGE meets Delta's conflict
detection, re-reads bronze and finds them all there (duplicates), or committed first
itself. Either way bronze holds each request once and the runs' counts add up.
"""

from __future__ import annotations

import json
import subprocess
import sys

from chispa import assert_df_equality

from jobs import pipeline
from jobs.cli import PROJECT_ROOT
from tests.helpers import assert_same_gold, event, table, write
from transforms.tables import GOLD_TABLES

N = 300  # valid requests per input; plus 20 repeats and 2 broken lines


def two_at_once(events, wh):
    command = [sys.executable, "-m", "jobs.ingest", "--events", str(events), "--warehouse", str(wh),
               "--driver-memory", "1g", "--shuffle-partitions", "2"]
    procs = [subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    return [(p.wait(timeout=300), *p.communicate()) for p in procs]


def shared_input(path, first):
    ids = range(first, first + N)
    rows = [event(i, 1 + i % 28) for i in ids] + [event(i, 1 + i % 28) for i in ids[:20]]
    write(path, rows)
    with open(path, "a") as f:
        f.write('{"generation_id": "broken"\n' + json.dumps({**event(99_999, 3), "tokens_prompt": -1}) + "\n")


def test_two_ingests_at_once_count_each_request_once(spark, tmp_path):
    wh = tmp_path / "wh"
    # Round 1 on an empty warehouse (both runs create the tables); round 2 with bronze
    # holding round 1, on an input whose first 100 requests round 1 already added (200 new).
    for n, first, new in [(1, 0, N), (2, N - 100, N - 100)]:
        shared_input(tmp_path / f"in{n}" / "ev.jsonl", first)
        for code, _, err in two_at_once(tmp_path / f"in{n}", wh):
            assert code == 0, err[-2000:]
        bronze = spark.read.format("delta").load(str(wh / "bronze" / "events"))
        assert bronze.count() == bronze.select("generation_id").distinct().count() == N + (n - 1) * (N - 100)
        runs = spark.read.format("delta").load(str(wh / "ops" / "ingest_runs")).filter("kind = 'events'").collect()
        runs = sorted(runs, key=lambda r: r.started_at)[-2:]  # this round's two runs
        # Each run puts every line in exactly one of: added, quarantined, duplicates.
        for r in runs:
            assert r.rows_read == N + 20 + 2
            assert (r.rows_quarantined, r.quarantine_reasons) == (2, {"malformed_record": 1, "negative_tokens_prompt": 1})
            assert r.rows_added + r.duplicates_dropped == N + 20
        # The new requests were added once: by one run, or split between the two.
        assert sum(r.rows_added for r in runs) == new
        print([(r.rows_added, r.duplicates_dropped, r.attempts) for r in runs])


def test_two_pipelines_at_once_equal_one_run_on_the_union(spark, cfg, tmp_path):
    # Two whole pipelines on overlapping inputs (requests 0-239 and 120-359, 20 accounts)
    # into one warehouse, at once; then one pipeline on both inputs into another.
    for name, first in [("a", 0), ("b", 120)]:
        write(tmp_path / name / "ev.jsonl",
              [event(i, 1 + i % 28, account=f"acct-{i % 20}") for i in range(first, first + 240)])
    command = [sys.executable, "-m", "jobs.pipeline", "--warehouse", str(tmp_path / "wh"),
               "--driver-memory", "1g", "--shuffle-partitions", "2"]
    procs = [subprocess.Popen([*command, "--events", str(tmp_path / name)], cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        print(out)
    pipeline.run(spark, {**cfg, "warehouse": str(tmp_path / "one"), "input_format": "auto",
                         "inputs": {"events": f"{tmp_path}/[ab]/ev.jsonl", "labels": None}})
    columns = [c for c in table(spark, f"{tmp_path}/one/silver/events").columns]
    assert_df_equality(table(spark, f"{tmp_path}/wh/silver/events", columns),
                       table(spark, f"{tmp_path}/one/silver/events", columns), ignore_row_order=True)
    for name in GOLD_TABLES:
        assert_same_gold(table(spark, f"{tmp_path}/wh/gold/{name}"), table(spark, f"{tmp_path}/one/gold/{name}"))
