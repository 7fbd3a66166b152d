"""jobs.maintain: compaction and VACUUM between runs, and enrich when bronze's change feed is gone."""

from __future__ import annotations

from delta.tables import DeltaTable

from jobs import maintain, pipeline
from tests.helpers import event, write


def run(spark, cfg, wh, events, stages):
    return pipeline.run(spark, {**cfg, "warehouse": wh, "input_format": "auto", "stages": stages,
                                "inputs": {"events": str(events), "labels": None}})


def snapshot_files(spark, path) -> int:
    return maintain.detail(spark, path)[1]


def test_maintain_compacts_and_vacuums_without_breaking_the_next_run(spark, cfg, tmp_path, capsys):
    wh = str(tmp_path / "wh")
    bronze = f"{wh}/bronze/events"
    # Three batches over the same two days (May 5 and 6): each adds one file per day to bronze.
    batches = [write(tmp_path / f"b{b}" / "ev.jsonl", [event(10 * b + i, 5 + i % 2) for i in range(4)])
               for b in range(3)]
    run(spark, cfg, wh, batches[0], ["ingest", "enrich"])
    run(spark, cfg, wh, batches[1], ["ingest"])  # not enriched yet: the next enrich reads it from the feed
    enriched_from = DeltaTable.forPath(spark, bronze).history().count()  # versions 0 .. n-1 exist
    before_version = enriched_from - 1
    assert snapshot_files(spark, bronze) == 4

    capsys.readouterr()
    done = maintain.run(spark, {**cfg, "warehouse": wh, "maintain": {"optimize": True, "vacuum_hours": 0}})
    out = capsys.readouterr().out
    files_before, files_after, version = done["optimize"]["bronze/events"]
    assert (files_before, files_after, version) == (4, 2, before_version + 1)  # one file per day, one commit
    # VACUUM with 0 hours kept bronze's files that the next enrich reads from the feed
    # (the second batch's, and the first's that the compaction replaced): 4 + 2 on disk.
    # Every Delta table of the warehouse is vacuumed (found from the table list, not a listing).
    on_disk = {str(log.parent.relative_to(wh)) for log in (tmp_path / "wh").rglob("_delta_log")}
    assert set(done["vacuum"]) == on_disk and len(on_disk) >= 5
    keep, on_disk_before, on_disk_after = done["vacuum"]["bronze/events"]
    assert keep > 0 and on_disk_before == on_disk_after == 6
    assert "raised from 0" in out and "bronze/events" in out
    # The version before the compaction still reads back.
    assert spark.read.format("delta").option("versionAsOf", before_version).load(bronze).count() == 8

    # The next enrich is incremental: the compaction changed no data, the feed is whole.
    capsys.readouterr()
    result = run(spark, cfg, wh, batches[1], ["enrich"])
    out = capsys.readouterr().out
    assert (result["enrich"]["dates"], result["enrich"]["rows"]) == (2, 8)
    assert "incremental" in out and "cannot be read" not in out
    # Now nothing before the last version is needed: VACUUM 0 leaves the snapshot's files only.
    done = maintain.run(spark, {**cfg, "warehouse": wh, "maintain": {"vacuum_hours": 0}})
    assert done["vacuum"]["bronze/events"][2] == snapshot_files(spark, bronze) == 2

    # A VACUUM that ignores the pipeline (an operator's, with 0 hours) after a compaction
    # deletes the third batch's files before enrich has read them: enrich says so and
    # rebuilds all of silver, every request once.
    run(spark, cfg, wh, batches[2], ["ingest"])
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    DeltaTable.forPath(spark, bronze).optimize().executeCompaction()
    DeltaTable.forPath(spark, bronze).vacuum(0)
    capsys.readouterr()
    result = run(spark, cfg, wh, batches[2], ["enrich"])
    out = capsys.readouterr().out
    assert "cannot be read" in out and "rebuilding all of silver" in out and "full rebuild" in out
    silver = spark.read.format("delta").load(f"{wh}/silver/events")
    assert result["enrich"]["rows"] == silver.count() == silver.select("generation_id").distinct().count() == 12
