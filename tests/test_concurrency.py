"""Two pipeline runs at once on the same warehouse: nothing counted twice, nothing lost.

Two drivers, each with its own JVM, run the whole pipeline on the same empty
warehouse with overlapping inputs: a real `python -m jobs.pipeline` process, and this
test session's (which starts once the other has created bronze, so that both ingest
at once rather than one after the other: the session's JVM is warm, the process's
starts cold). The tables are created by one and found by the other, then both MERGE
into bronze: whichever commits first adds the shared requests, the other's MERGE
meets Delta's conflict detection, re-reads bronze and counts them as duplicates.
Enrich and summarize meet the same conflicts and retry. Each run's accounting still
puts every line in exactly one place, bronze holds each request once, and silver and
gold equal one run over both inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from chispa import assert_df_equality

from jobs import pipeline
from jobs.common.cli import PROJECT_ROOT
from tests.helpers import assert_same_gold, event, gold, table, write
from transforms.tables import GOLD_TABLES

N = 240  # valid requests per input; plus 20 repeats and 2 broken lines
FIRST = {"a": 0, "b": 120}  # requests 0-239 and 120-359: 360 in all, 120 in both


def write_input(path, first):
    ids = range(first, first + N)
    rows = [event(i, 1 + i % 28, account=f"acct-{i % 20}") for i in ids]
    write(path, rows + rows[:20])
    with open(path, "a") as f:
        f.write('{"generation_id": "broken"\n' + json.dumps({**event(99_999, 3), "tokens_prompt": -1}) + "\n")


@pytest.mark.slow
def test_two_pipelines_at_once_count_each_request_once_and_equal_one_run(spark, cfg, subprocess_conf, tmp_path):
    for name, first in FIRST.items():
        write_input(tmp_path / name / "ev.jsonl", first)
    wh = tmp_path / "wh"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.pipeline", "--warehouse", str(wh), "--conf", str(subprocess_conf),
         "--driver-memory", "1g", "--shuffle-partitions", "2", "--events", str(tmp_path / "a")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (wh / "bronze" / "events" / "_delta_log").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "the other run did not create bronze within 5 minutes"
            time.sleep(0.1)
        pipeline.run(spark, {**cfg, "warehouse": str(wh), "input_format": "auto",
                             "inputs": {"events": str(tmp_path / "b"), "labels": None}})
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    # A warm start (the session resolved Delta's jars): the console holds the jobs' own
    # lines, and no Ivy resolution report.
    assert out and all(line.startswith(("ingest ", "enrich:", "summarize:", "pipeline:"))
                       for line in out.splitlines()), out
    assert ":: resolving dependencies" not in err and "loading settings" not in err
    assert "Traceback" not in err

    bronze = spark.read.format("delta").load(str(wh / "bronze" / "events"))
    assert bronze.count() == bronze.select("generation_id").distinct().count() == 360
    runs = spark.read.format("delta").load(str(wh / "ops" / "ingest_runs")).collect()
    assert len(runs) == 2
    for r in runs:  # each run puts every line of its input in exactly one place
        assert r.rows_read == N + 20 + 2
        assert (r.rows_quarantined, r.quarantine_reasons) == (2, {"malformed_record": 1, "negative_tokens_prompt": 1})
        assert r.rows_added + r.duplicates_dropped == N + 20
    # the 360 requests were added once: the 120 shared ones by one run or the other
    assert sum(r.rows_added for r in runs) == 360

    pipeline.run(spark, {**cfg, "warehouse": str(tmp_path / "one"), "input_format": "auto",
                         "inputs": {"events": f"{tmp_path}/[ab]/ev.jsonl", "labels": None}})
    columns = table(spark, f"{tmp_path}/one/silver/events").columns
    assert_df_equality(table(spark, f"{wh}/silver/events", columns),
                       table(spark, f"{tmp_path}/one/silver/events", columns), ignore_row_order=True)
    for name in GOLD_TABLES:
        assert_same_gold(gold(f"{wh}/gold/{name}"), gold(f"{tmp_path}/one/gold/{name}"))
