"""Weekly runs meet late data, crashes and reruns.

A second batch brings a new day, a late row and a late label for old days, a
duplicate and a broken line. Ingest and enrich take it in; then summarize runs as a
separate driver process killed (SIGKILL) in the middle of the gold writes: every gold
table stays readable at a committed version, and its previous version reads back
exactly as before. The next run of the batch completes it, re-deriving only the gold
weeks it touched; the run after that finds nothing to do and commits nothing
anywhere; and the warehouse then equals a rebuild from both batches at once.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml
from chispa import assert_df_equality

from jobs import pipeline
from jobs.common.cli import PROJECT_ROOT
from jobs.summarize import gold_table_names
from tests.helpers import assert_same_gold, event, gold, latest_version, table, write
from transforms.schema import EVENT_COLUMNS

LABEL = "/Games/Roleplaying Games"


def run(spark, cfg, wh, events, labels, stages=pipeline.STAGES):
    return pipeline.run(spark, {
        **cfg, "warehouse": wh, "input_format": "auto", "privacy": {**cfg["privacy"], "k_min": 1},
        "inputs": {"events": str(events), "labels": str(labels)}, "stages": list(stages),
    })


def killed_during_gold_writes(wh, tmp_path, test_conf) -> None:
    """Run summarize in another driver process; SIGKILL it once a gold table has committed."""
    conf = tmp_path / "k1.yaml"
    conf.write_text(yaml.safe_dump({**yaml.safe_load(test_conf.read_text()), "privacy": {"k_min": 1}}))
    logs = [tmp_path / "wh" / "gold" / name / "_delta_log" for name in gold_table_names()]

    def commits(log):  # committed versions only (a commit is renamed into place atomically)
        return len([p for p in log.iterdir() if re.fullmatch(r"\d{20}\.json", p.name)])

    entries = {log: commits(log) for log in logs}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.summarize", "--conf", str(conf), "--warehouse", wh,
         "--driver-memory", "1g", "--shuffle-partitions", "2"],
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


@pytest.mark.slow
def test_late_data_a_killed_run_and_a_rerun_end_equal_to_a_rebuild(spark, cfg, subprocess_conf, tmp_path):
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
    with open(tmp_path / "b2" / "ev.jsonl", "a") as f:
        f.write('{"generation_id": "g7", "model": \n')  # a broken line: quarantined
    write(tmp_path / "b2" / "lab.jsonl",              # a late label for a first-week request
          [{"generation_id": "g2", "category": "/Adult", "confidence": 0.7}])
    b2 = (tmp_path / "b2" / "ev.jsonl", tmp_path / "b2" / "lab.jsonl")
    wh = str(tmp_path / "wh")
    first = run(spark, cfg, wh, tmp_path / "b1" / "ev.jsonl", tmp_path / "b1" / "lab.jsonl")
    assert (first["enrich"]["rows"], first["summarize"]["weeks_rederived"]) == (4, "all")
    assert first["enrich"]["unknown_models"] == {"z/not-in-catalog": 1}
    paths = {name: f"{wh}/gold/{name}" for name in gold_table_names()}
    before = {name: (latest_version(p), gold(p)) for name, p in paths.items()}

    # 1. The second batch: ingest (4 lines read: 2 new, 1 duplicate, 1 broken) and enrich
    # (days 6 for g2's late label, 7 for g6, 20 for g5; days 5, 13 and 14 untouched) ...
    batch = run(spark, cfg, wh, *b2, stages=["ingest", "enrich"])
    events = batch["ingest"]["events"]
    assert (events.read, events.added, events.duplicates, events.quarantined) == (4, 2, 1, 1)
    assert (batch["enrich"]["dates"], batch["enrich"]["rows"]) == (3, 3)
    # ... then summarize dies in the middle of the gold writes.
    killed_during_gold_writes(wh, tmp_path, subprocess_conf)
    advanced = 0
    for name, path in paths.items():
        version, old = before[name]
        assert_same_gold(gold(path, version), old)  # the previous version is intact
        gold(path)  # and the latest committed version is readable
        advanced += latest_version(path) > version
    assert 0 < advanced < len(paths), "the kill should land between the first and the last gold commit"

    # 2. The next run of the batch completes it: its files are unchanged (not read again),
    # nothing new for bronze or silver; the weeks of May 5 and May 19 re-derived, the week
    # of May 12 kept.
    second = run(spark, cfg, wh, *b2)
    assert (second["ingest"]["events"].read, second["ingest"]["events"].unchanged_files) == (0, 1)
    assert second["enrich"]["rows"] == 0
    assert second["summarize"]["weeks_rederived"] == "2"

    # 3. Once more: nothing to do, and nothing committed to bronze, silver or gold, even
    # after a silver commit that changes no rows (an operator's table property; a
    # compaction is another): summarize finds no changed week and keeps gold.
    spark.sql(f"ALTER TABLE delta.`{wh}/silver/events` "
              "SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 30 days')")
    tables = ["bronze/events", "bronze/labels", "silver/events"] + [f"gold/{name}" for name in paths]
    versions = {t: latest_version(f"{wh}/{t}") for t in tables}
    third = run(spark, cfg, wh, *b2)
    assert (third["ingest"]["events"].read, third["ingest"]["events"].unchanged_files) == (0, 1)
    assert (third["ingest"]["labels"].read, third["ingest"]["labels"].unchanged_files) == (0, 1)
    assert third["enrich"]["rows"] == 0
    assert (third["summarize"]["tables"], third["summarize"]["weeks_rederived"]) == ([], "none")  # gold kept
    assert {t: latest_version(f"{wh}/{t}") for t in tables} == versions

    # 4. All equal to a rebuild from both batches at once.
    rebuilt = str(tmp_path / "rebuilt")
    run(spark, cfg, rebuilt, tmp_path / "b*" / "ev.jsonl", tmp_path / "b*" / "lab.jsonl")
    assert_df_equality(table(spark, f"{wh}/bronze/events", EVENT_COLUMNS),
                       table(spark, f"{rebuilt}/bronze/events", EVENT_COLUMNS), ignore_row_order=True)
    assert_df_equality(table(spark, f"{wh}/silver/events"), table(spark, f"{rebuilt}/silver/events"),
                       ignore_row_order=True)
    assert table(spark, f"{wh}/silver/events").count() == 6  # each request exactly once
    for name, path in paths.items():
        assert_same_gold(gold(path), gold(f"{rebuilt}/gold/{name}"))
    assert len(gold(paths["weekly_segment_share"])) >= 3  # not trivially equal

    # 5. Another k_min re-derives gold from the same silver.
    from jobs import summarize

    before_k2 = latest_version(f"{rebuilt}/gold/weekly_segment_share")
    k2 = summarize.run(spark, {**cfg, "warehouse": rebuilt, "privacy": {**cfg["privacy"], "k_min": 2}})
    assert sorted(k2["tables"]) == sorted(gold_table_names())
    # (the cohort tables of these few May days are empty, and Delta 4 commits nothing for an
    # overwrite that neither adds nor removes a file: a table with rows shows the commit)
    assert latest_version(f"{rebuilt}/gold/weekly_segment_share") == before_k2 + 1


def test_a_changed_week_re_derives_the_activity_of_every_month_it_touches():
    from jobs.summarize import months_of

    # The week of Monday 2025-04-28 runs to Sunday 2025-05-04: April's and May's activity.
    assert months_of([dt.date(2025, 4, 28)]) == [dt.date(2025, 4, 1), dt.date(2025, 5, 1)]
    assert months_of([dt.date(2025, 5, 5), dt.date(2025, 5, 12)]) == [dt.date(2025, 5, 1)]
    assert months_of([dt.date(2025, 12, 29)]) == [dt.date(2025, 12, 1), dt.date(2026, 1, 1)]
