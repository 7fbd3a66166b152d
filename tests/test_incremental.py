"""Weekly runs meet late data and crashes.

A second batch brings a new day, a late row and a late label for old days, and a
duplicate. Its first run is a separate driver process killed (SIGKILL) in the middle
of the gold writes: every gold table stays readable at a committed version, and its
previous version reads back exactly as before. The next run completes the batch,
re-deriving only the silver days and gold weeks it touched, and the warehouse then
equals a rebuild from both batches at once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time

from chispa import assert_df_equality

from jobs import pipeline
from jobs.cli import PROJECT_ROOT
from jobs.summarize import gold_table_names
from tests.helpers import assert_same_gold, event, latest_version, table, write
from transforms.schema import EVENT_COLUMNS

LABEL = "/Games/Roleplaying Games"


def run(spark, cfg, wh, events, labels):
    return pipeline.run(spark, {
        **cfg, "warehouse": wh, "input_format": "auto", "privacy": {**cfg["privacy"], "k_min": 1},
        "inputs": {"events": str(events), "labels": str(labels)},
    })


def killed_during_gold_writes(wh, tmp_path, events, labels) -> None:
    """Run the pipeline in another driver process; SIGKILL it once a gold table has committed."""
    conf = tmp_path / "k1.yaml"
    conf.write_text(json.dumps({"privacy": {"k_min": 1}}))  # JSON is YAML
    logs = [tmp_path / "wh" / "gold" / name / "_delta_log" for name in gold_table_names()]

    def commits(log):  # committed versions only (a commit is renamed into place atomically)
        return len([p for p in log.iterdir() if re.fullmatch(r"\d{20}\.json", p.name)])

    entries = {log: commits(log) for log in logs}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.pipeline", "--conf", str(conf), "--events", str(events), "--labels",
         str(labels), "--warehouse", wh, "--driver-memory", "1g", "--shuffle-partitions", "2"],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if any(commits(log) > entries[log] for log in logs):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed (exit status {proc.returncode})"


def test_late_data_and_a_killed_run_end_equal_to_a_rebuild(spark, cfg, tmp_path):
    # May 2025: weeks start on Mondays 5, 12 and 19.
    write(tmp_path / "b1" / "ev.jsonl", [
        event(1, 5, account="a1"), event(2, 6, "z/not-in-catalog", account="a2"), event(3, 13, account="a1"),
        event(4, 14, "openai/gpt-4o", account="a3"),
    ])
    write(tmp_path / "b1" / "lab.jsonl", [{"generation_id": "g1", "category": LABEL, "confidence": 0.9}])
    write(tmp_path / "b2" / "ev.jsonl", [
        event(5, 20, account="a2"),                   # a new day in a new week
        event(6, 7, "openai/gpt-4o", account="a1"),   # a late row for the first week
        event(3, 13, account="a1"),                   # g3 again: a duplicate of bronze
    ])
    write(tmp_path / "b2" / "lab.jsonl",              # a late label for a first-week request
          [{"generation_id": "g2", "category": "/Adult", "confidence": 0.7}])
    wh = str(tmp_path / "wh")
    first = run(spark, cfg, wh, tmp_path / "b1" / "ev.jsonl", tmp_path / "b1" / "lab.jsonl")
    assert (first["enrich"]["rows"], first["summarize"]["weeks_rederived"]) == (4, "all")
    assert first["enrich"]["unknown_models"] == {"z/not-in-catalog": 1}
    gold = {name: f"{wh}/gold/{name}" for name in gold_table_names()}
    before = {name: (latest_version(spark, p), table(spark, p).localCheckpoint()) for name, p in gold.items()}

    # 1. The second batch's first run dies in the middle of the gold writes.
    killed_during_gold_writes(wh, tmp_path, tmp_path / "b2" / "ev.jsonl", tmp_path / "b2" / "lab.jsonl")
    advanced = 0
    for name, path in gold.items():
        version, old = before[name]
        assert_same_gold(table(spark, path, version=version), old)  # the previous version is intact
        table(spark, path).count()  # and the latest committed version is readable
        advanced += latest_version(spark, path) > version
    assert 0 < advanced < len(gold), "the kill should land between the first and the last gold commit"
    # what the killed run did before gold: ingest (read 3: 2 new, 1 duplicate), then silver
    runs = spark.read.format("delta").load(f"{wh}/ops/ingest_runs").orderBy("started_at").collect()
    assert (runs[-2]["rows_read"], runs[-2]["rows_added"], runs[-2]["duplicates_dropped"]) == (3, 2, 1)
    state = spark.read.format("delta").load(f"{wh}/ops/enrich_state").orderBy("finished_at").collect()[-1]
    # days 6 (g2, late label), 7 (g6, late row) and 20 (g5, new); 5, 13 and 14 untouched
    assert (state["dates_processed"], state["rows_written"]) == (3, 3)

    # 2. The next run completes the batch: nothing new for bronze or silver; the weeks
    # of May 5 and May 19 re-derived, the week of May 12 kept.
    second = run(spark, cfg, wh, tmp_path / "b2" / "ev.jsonl", tmp_path / "b2" / "lab.jsonl")
    assert (second["ingest"]["events"].added, second["ingest"]["events"].duplicates) == (0, 3)
    assert second["enrich"]["rows"] == 0
    assert second["summarize"]["weeks_rederived"] == "2"

    # 3. All equal to a rebuild from both batches at once.
    rebuilt = str(tmp_path / "rebuilt")
    run(spark, cfg, rebuilt, tmp_path / "b*" / "ev.jsonl", tmp_path / "b*" / "lab.jsonl")
    assert_df_equality(table(spark, f"{wh}/bronze/events", EVENT_COLUMNS),
                       table(spark, f"{rebuilt}/bronze/events", EVENT_COLUMNS), ignore_row_order=True)
    assert_df_equality(table(spark, f"{wh}/silver/events"), table(spark, f"{rebuilt}/silver/events"),
                       ignore_row_order=True)
    assert table(spark, f"{wh}/silver/events").count() == 6  # each request exactly once
    for name, path in gold.items():
        assert_same_gold(table(spark, path), table(spark, f"{rebuilt}/gold/{name}"))
    assert table(spark, gold["weekly_segment_share"]).count() >= 3  # not trivially equal

    # 4. Summarize again: the same settings keep gold (no commit); another k_min re-derives it.
    from jobs import summarize

    versions = {name: latest_version(spark, f"{rebuilt}/gold/{name}") for name in gold}
    k1 = {**cfg, "warehouse": rebuilt, "privacy": {**cfg["privacy"], "k_min": 1}}
    assert summarize.run(spark, k1)["tables"] == []
    assert {name: latest_version(spark, f"{rebuilt}/gold/{name}") for name in gold} == versions
    k2 = summarize.run(spark, {**k1, "privacy": {**cfg["privacy"], "k_min": 2}})
    assert sorted(k2["tables"]) == sorted(gold_table_names())
    # (the cohort tables of these few May days are empty, and Delta 4 commits nothing for an
    # overwrite that neither adds nor removes a file: a table with rows shows the commit)
    assert latest_version(spark, f"{rebuilt}/gold/weekly_segment_share") == versions["weekly_segment_share"] + 1


def test_a_changed_week_re_derives_the_activity_of_every_month_it_touches():
    from jobs.summarize import months_of

    # The week of Monday 2025-04-28 runs to Sunday 2025-05-04: April's and May's activity.
    assert months_of([dt.date(2025, 4, 28)]) == [dt.date(2025, 4, 1), dt.date(2025, 5, 1)]
    assert months_of([dt.date(2025, 5, 5), dt.date(2025, 5, 12)]) == [dt.date(2025, 5, 1)]
    assert months_of([dt.date(2025, 12, 29)]) == [dt.date(2025, 12, 1), dt.date(2026, 1, 1)]
