"""The ingest job end to end on tiny files of every format, and its command line."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from jobs import ingest
from jobs.common.cli import PROJECT_ROOT, PipelineError
from jobs.common.session import local_frame
from tests.helpers import event as may_event
from tests.helpers import latest_version


def event(i, **changes):
    """tests.helpers.event spread over May 5-7 (by i) and two accounts."""
    return may_event(i, 5 + i % 3, account=f"acct-{i % 2}", **changes)


def write_jsonl(path, rows, extra_lines=()):
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    text = "\n".join(lines) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def run_ingest(spark, cfg, tmp_path, events, labels=None):
    wh = str(tmp_path / "wh")
    run_cfg = {**cfg, "warehouse": wh, "inputs": {"events": str(events), "labels": labels and str(labels)}}
    return ingest.run(spark, run_cfg), wh


def load(spark, wh, table):
    return spark.read.format("delta").load(f"{wh}/{table}")


def assert_reconciles(acc, wh, spark, kind="events"):
    """The accounting against the tables themselves: bronze and quarantine rows counted by
    reading them, the duplicates the rest of the lines read."""
    bronze = load(spark, wh, f"bronze/{kind}").count() if acc.added else 0
    quarantine = load(spark, wh, f"quarantine/{kind}").count() if acc.quarantined else 0
    assert (bronze, quarantine) == (acc.added, acc.quarantined)


def test_jsonl_rows_land_in_exactly_one_place(spark, cfg, tmp_path):
    rows = [event(1), event(2), event(3), event(1), event(4, tokens_prompt=-1)]
    path = write_jsonl(tmp_path / "ev.jsonl", rows, ['{"generation_id": "g9", "created_at": '])
    result, wh = run_ingest(spark, cfg, tmp_path, path)
    acc = result["events"]
    assert (acc.read, acc.added, acc.quarantined, acc.duplicates) == (6, 3, 2, 1)
    assert acc.reasons == {"negative_tokens_prompt": 1, "malformed_record": 1}
    assert_reconciles(acc, wh, spark)
    bronze = load(spark, wh, "bronze/events")
    assert sorted(r.generation_id for r in bronze.collect()) == ["g1", "g2", "g3"]
    quarantine = {r.reason: r.raw for r in load(spark, wh, "quarantine/events").collect()}
    assert quarantine["malformed_record"] == '{"generation_id": "g9", "created_at": '
    assert json.loads(quarantine["negative_tokens_prompt"])["generation_id"] == "g4"


def test_a_second_run_of_the_same_files_reads_nothing_and_a_changed_file_is_read_again(spark, cfg, tmp_path):
    # g2 has no account; the last line is broken (quarantined once, not once per run)
    path = write_jsonl(tmp_path / "ev.jsonl", [event(1), event(2, account_id="")], ['{"generation_id": '])
    first, wh = run_ingest(spark, cfg, tmp_path, path)
    versions = {t: latest_version(f"{wh}/{t}") for t in ("bronze/events", "quarantine/events")}
    second, _ = run_ingest(spark, cfg, tmp_path, path)
    assert (first["events"].read, first["events"].added, first["events"].quarantined,
            first["events"].no_account) == (3, 2, 1, 1)
    # the file is listed, found unchanged in ops/ingest_runs.files_read, and not read
    assert (second["events"].read, second["events"].unchanged_files) == (0, 1)
    assert second["events"].line().endswith(" unchanged_files=1")
    assert {t: latest_version(f"{wh}/{t}") for t in versions} == versions  # nothing written

    # The same content exported again (a new modification time): read, its requests duplicates.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    third, _ = run_ingest(spark, cfg, tmp_path, path)
    # --reread-files reads an unchanged file too
    fourth = ingest.run(spark, {**cfg, "warehouse": wh, "ingest": {**cfg["ingest"], "reread_files": True},
                                "inputs": {"events": str(path), "labels": None}})
    for acc in (third["events"], fourth["events"]):
        assert (acc.read, acc.added, acc.quarantined, acc.duplicates, acc.unchanged_files) == (3, 0, 1, 2, 0)
    assert load(spark, wh, "bronze/events").count() == 2
    runs = load(spark, wh, "ops/ingest_runs").collect()
    # each read of the file is recorded with its size and modification time, as the OS reports them
    first_ms, later_ms = stat.st_mtime_ns // 1_000_000, path.stat().st_mtime_ns // 1_000_000
    assert sorted((r.rows_read, r.rows_added, r.duplicates_dropped, r.rows_no_account, r.input_files,
                   r.files_unchanged, [(f.size, f.modified_ms) for f in r.files_read]) for r in runs) == [
        (0, 0, 0, 0, {}, 1, []), (3, 0, 2, 0, {"jsonl": 1}, 0, [(stat.st_size, later_ms)]),
        (3, 0, 2, 0, {"jsonl": 1}, 0, [(stat.st_size, later_ms)]),
        (3, 2, 0, 1, {"jsonl": 1}, 0, [(stat.st_size, first_ms)])]
    assert all(f.path.endswith("/ev.jsonl") for r in runs for f in r.files_read)


def test_a_batch_reads_bronze_only_in_the_days_it_adds_to(spark, cfg, tmp_path):
    # Run 1: g0-g5 over May 5-7 (event's day cycles). Then May 5's data files are
    # deleted from disk, not from the log: a run that reads that day of bronze fails.
    (tmp_path / "a").mkdir()
    _, wh = run_ingest(spark, cfg, tmp_path, write_jsonl(tmp_path / "a" / "ev.jsonl", [event(i) for i in range(6)]))
    may5 = [p for p in (tmp_path / "wh" / "bronze" / "events" / "event_date=2025-05-05").iterdir()
            if p.suffix == ".parquet"]
    assert may5  # g0 and g3
    for path in may5:
        path.unlink()
    # Run 2 (May 6 and 7 only): g1 and g2 again, already in bronze; g7 and g8 new (days 6 and 7).
    (tmp_path / "b").mkdir()
    second = write_jsonl(tmp_path / "b" / "ev.jsonl", [event(1), event(2), event(7), event(8)])
    result, _ = run_ingest(spark, cfg, tmp_path, second)
    acc = result["events"]
    assert (acc.read, acc.added, acc.duplicates, acc.quarantined) == (4, 2, 2, 0)
    assert sorted(acc.days) == [dt.date(2025, 5, 6), dt.date(2025, 5, 7)]


def test_bronze_is_partitioned_by_event_date_and_typed(spark, cfg, tmp_path):
    path = write_jsonl(tmp_path / "ev.jsonl", [event(1, created_at="2025-05-11T23:59:59.5-01:00")])
    _, wh = run_ingest(spark, cfg, tmp_path, path)
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{wh}/bronze/events`").first()
    assert detail.partitionColumns == ["event_date"]
    row = load(spark, wh, "bronze/events").first()
    assert str(row.event_date) == "2025-05-12"  # 23:59:59.5 at UTC-1 is the next UTC day
    assert row.tokens_prompt == 100 and row.native_tokens_reasoning == 0 and row.is_byok is False  # 100 x i


def test_gzip_folder_and_glob_inputs(spark, cfg, tmp_path):
    folder = tmp_path / "drop"
    (folder / "day=1").mkdir(parents=True)
    write_jsonl(folder / "day=1" / "a.jsonl.gz", [event(1), event(2)])
    write_jsonl(folder / "b.jsonl", [event(3)])
    (folder / "_SUCCESS").write_text("")
    result, _ = run_ingest(spark, cfg, tmp_path, folder)
    assert result["events"].added == 3
    result, _ = run_ingest(spark, cfg, tmp_path / "x", str(folder / "*.jsonl"))
    assert result["events"].added == 1


def test_parquet_with_extra_and_native_types(spark, cfg, tmp_path):
    frame = pd.DataFrame([event(1), event(2, tokens_completion=-2)])
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    frame["unknown_extra"] = ["x", "y"]
    path = tmp_path / "ev.parquet"
    frame.to_parquet(path, coerce_timestamps="us", allow_truncated_timestamps=True)
    result, wh = run_ingest(spark, cfg, tmp_path, path)
    assert (result["events"].added, result["events"].reasons) == (1, {"negative_tokens_completion": 1})
    row = load(spark, wh, "bronze/events").first()
    assert str(row.created_at) == "2025-05-06 12:00:00"  # event(1): May 6 at noon
    assert "unknown_extra" not in load(spark, wh, "bronze/events").columns


def test_parquet_nanosecond_timestamps_are_a_clear_error(spark, cfg, tmp_path):
    frame = pd.DataFrame([event(1)])
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    frame.to_parquet(tmp_path / "ev.parquet")  # pandas writes TIMESTAMP(NANOS), which Spark refuses
    with pytest.raises(PipelineError, match="cannot read parquet input"):
        run_ingest(spark, cfg, tmp_path, tmp_path / "ev.parquet")


def test_csv_with_missing_required_column_quarantines_every_row(spark, cfg, tmp_path):
    good = tmp_path / "ok"
    good.mkdir()
    pd.DataFrame([event(1), event(2)]).to_csv(good / "ev.csv", index=False)
    result, _ = run_ingest(spark, cfg, tmp_path / "a", good)
    assert result["events"].added == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.DataFrame([event(1), event(2)]).drop(columns=["total_cost"]).to_csv(bad / "ev.csv", index=False)
    result, _ = run_ingest(spark, cfg, tmp_path / "b", bad)
    assert (result["events"].added, result["events"].reasons) == (0, {"missing_total_cost": 2})


def test_labels_validated_and_deduplicated(spark, cfg, tmp_path):
    events = write_jsonl(tmp_path / "ev.jsonl", [event(1)])
    labels = write_jsonl(
        tmp_path / "lab.jsonl",
        [
            {"generation_id": "g1", "category": "/Adult", "confidence": 0.9},
            {"generation_id": "g1", "category": "/Games/Roleplaying Games", "confidence": 0.9},
            {"generation_id": "g1", "category": "/Adult", "confidence": 0.9},
            {"generation_id": "g1", "category": "/Adult/x", "confidence": 1.01},
            {"generation_id": "g1", "category": "/Adult/y", "confidence": 0},
            {"generation_id": "g1", "confidence": 0.5},
        ],
        ["<html>"],
    )
    result, wh = run_ingest(spark, cfg, tmp_path, events, labels)
    acc = result["labels"]
    assert (acc.read, acc.added, acc.quarantined, acc.duplicates) == (7, 3, 3, 1)
    assert acc.reasons == {"confidence_out_of_range": 1, "missing_category": 1, "malformed_record": 1}
    assert load(spark, wh, "bronze/labels").count() == 3


def test_empty_folder_is_a_zero_run(spark, cfg, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    result, _ = run_ingest(spark, cfg, tmp_path, folder)
    assert (result["events"].read, result["events"].added) == (0, 0)


def test_unknown_file_type_is_a_clear_error(spark, cfg, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(PipelineError, match="unknown type"):
        run_ingest(spark, cfg, tmp_path, folder)


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "jobs.ingest", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_missing_input_is_one_line_error(tmp_path):
    proc = cli("--events", str(tmp_path / "nope.jsonl"), "--warehouse", str(tmp_path / "wh"))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "no such file or folder" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "wh").exists()


def test_cli_bad_arguments_are_one_line_error(tmp_path):
    proc = cli("--warehouse", str(tmp_path / "wh"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--events" in proc.stderr


def test_the_shipped_sample_is_counted_as_read_by_hand(spark, cfg, tmp_path):
    # samples/events.jsonl, 16 lines read by hand: gen-0001..0010 valid, gen-0001 again (a
    # duplicate), gen-0011..0015 each broken one way (truncated, negative tokens, bad time, no model, ...).
    # (That a warm start prints only this line and no Ivy report: tests/test_concurrency.py.)
    acc = ingest.run(spark, {**cfg, "warehouse": str(tmp_path / "wh"),
                             "inputs": {"events": str(PROJECT_ROOT / "samples" / "events.jsonl"), "labels": None}})
    assert acc["events"].line() == "ingest events: read=16 added=10 quarantined=5 duplicates=1 no_account=0 files=jsonl:1"


def test_by_day_spreads_a_day_over_at_most_files_per_day_tasks(spark):
    from pyspark.sql import functions as F

    from jobs.common.warehouse import by_day

    rows = [(f"g{i}", f"2025-05-0{1 + i % 2}") for i in range(400)]
    df = local_frame(spark, rows, "generation_id string, day string").selectExpr(
        "generation_id", "cast(day as date) as event_date")
    spread = by_day(df, 3).selectExpr("event_date", "spark_partition_id() as task")
    per_day = {r["event_date"].day: r["tasks"] for r in
               spread.groupBy("event_date").agg(F.countDistinct("task").alias("tasks")).collect()}
    assert set(per_day) == {1, 2} and all(2 <= n <= 3 for n in per_day.values())
    one = by_day(df, 1).selectExpr("event_date", "spark_partition_id() as task")
    assert one.groupBy("event_date").agg(F.countDistinct("task").alias("n")).filter("n > 1").count() == 0


def test_extreme_token_counts_and_dates(spark, cfg, tmp_path):
    path = write_jsonl(tmp_path / "ev.jsonl", [
        event(1, tokens_prompt=10**9),                        # the largest count allowed: bronze
        event(2, tokens_prompt=10**9 + 1),                    # would overflow sums at scale
        event(3, native_tokens_cached=2**63 - 1),             # a 64-bit integer, but absurd
        event(4, tokens_completion=2**63),                    # not a 64-bit integer
        event(5, created_at="0001-01-01T00:00:00Z"),
        event(6, created_at="1969-12-31T23:59:59Z"),
        event(7, created_at="2199-06-01T00:00:00Z"),
        event(8, created_at="9999-12-31T23:59:59Z"),
        event(9, model="qwen/\u0000\u202e\U0001f600", account_id="\u0007\t"),  # control and unicode: text
    ])
    results, wh = run_ingest(spark, cfg, tmp_path, path)
    acc = results["events"]
    assert_reconciles(acc, wh, spark)
    assert (acc.read, acc.added) == (9, 2)
    assert acc.reasons == {"tokens_prompt_out_of_range": 1, "native_tokens_cached_out_of_range": 1,
                           "bad_tokens_completion": 1, "created_at_out_of_range": 4}
    assert {r.generation_id for r in load(spark, wh, "bronze/events").collect()} == {"g1", "g9"}


def test_a_bronze_table_from_before_call_type_gains_the_column(spark, cfg, tmp_path):
    # A warehouse written by an earlier version: bronze/events without call_type.
    path = write_jsonl(tmp_path / "ev.jsonl", [event(1)])
    first, wh = run_ingest(spark, cfg, tmp_path, path)
    old = load(spark, wh, "bronze/events").drop("call_type")
    old.write.format("delta").mode("overwrite").option("overwriteSchema", "true").partitionBy("event_date").save(
        f"{wh}/bronze/events")
    assert "call_type" not in load(spark, wh, "bronze/events").columns
    second, _ = run_ingest(spark, cfg, tmp_path, write_jsonl(tmp_path / "more.jsonl", [event(2, call_type="embedding")]))
    assert (second["events"].added, second["events"].duplicates) == (1, 0)
    rows = {r.generation_id: r.call_type for r in load(spark, wh, "bronze/events").collect()}
    assert rows == {"g1": None, "g2": "embedding"}
