"""Two pipeline runs at once on the same warehouse: nothing counted twice, nothing lost.

Two real `python -m jobs.pipeline` processes, each a driver with its own JVM, start
together on an empty warehouse with overlapping inputs. Both create the tables (one
wins, the other finds them), then both MERGE into bronze: whichever commits first adds
the shared requests, the other's MERGE meets Delta's conflict detection, re-reads
bronze and counts them as duplicates. Enrich and summarize meet the same conflicts and
retry. Each run's accounting still puts every line in exactly one place, bronze holds
each request once, and silver and gold equal one run over both inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys

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


def test_two_pipelines_at_once_count_each_request_once_and_equal_one_run(spark, cfg, subprocess_conf, tmp_path):
    for name, first in FIRST.items():
        write_input(tmp_path / name / "ev.jsonl", first)
    command = [sys.executable, "-m", "jobs.pipeline", "--warehouse", str(tmp_path / "wh"), "--conf", str(subprocess_conf),
               "--driver-memory", "1g", "--shuffle-partitions", "2"]
    procs = [subprocess.Popen([*command, "--events", str(tmp_path / name)], cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in FIRST]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        # Warm starts (the session fixture resolved Delta's jars): the console holds the
        # jobs' own lines, and no Ivy resolution report.
        assert out and all(line.startswith(("ingest ", "enrich:", "summarize:", "pipeline:"))
                           for line in out.splitlines()), out
        assert ":: resolving dependencies" not in err and "loading settings" not in err
        assert "Traceback" not in err

    bronze = spark.read.format("delta").load(str(tmp_path / "wh" / "bronze" / "events"))
    assert bronze.count() == bronze.select("generation_id").distinct().count() == 360
    runs = spark.read.format("delta").load(str(tmp_path / "wh" / "ops" / "ingest_runs")).collect()
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
    assert_df_equality(table(spark, f"{tmp_path}/wh/silver/events", columns),
                       table(spark, f"{tmp_path}/one/silver/events", columns), ignore_row_order=True)
    for name in GOLD_TABLES:
        assert_same_gold(gold(f"{tmp_path}/wh/gold/{name}"), gold(f"{tmp_path}/one/gold/{name}"))
