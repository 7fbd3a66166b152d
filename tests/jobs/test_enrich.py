"""The enrich job: complete, idempotent, incremental, and free of raw account ids."""

from __future__ import annotations

from jobs import enrich, ingest
from tests.helpers import RAW_ACCOUNT, event, write


def ingest_batch(spark, cfg, wh, events, labels=None):
    ingest.run(spark, {**cfg, "warehouse": wh, "inputs": {"events": str(events), "labels": labels and str(labels)}})


def enrich_run(spark, cfg, wh, **flags):
    return enrich.run(spark, {**cfg, "warehouse": wh, "enrich": {**cfg["enrich"], **flags}})


def silver(spark, wh):
    return spark.read.format("delta").load(f"{wh}/silver/events")


def test_since_rederives_from_a_date(spark, cfg, tmp_path):
    wh = str(tmp_path / "wh")
    ingest_batch(spark, cfg, wh, write(tmp_path / "ev.jsonl", [event(1, 5), event(2, 6), event(3, 7)]))
    enrich_run(spark, cfg, wh)
    result = enrich_run(spark, cfg, wh, since="2025-05-06")
    assert (result["dates"], result["rows"]) == (2, 2)
    assert silver(spark, wh).count() == 3


def test_no_raw_account_id_anywhere_in_silver(spark, cfg, tmp_path):
    wh = str(tmp_path / "wh")
    ingest_batch(spark, cfg, wh, write(tmp_path / "ev.jsonl", [event(1, 5), event(2, 6)]))
    enrich_run(spark, cfg, wh)
    assert "account_id" not in silver(spark, wh).columns
    files = [p for p in (tmp_path / "wh" / "silver").rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert RAW_ACCOUNT.encode() not in path.read_bytes(), path
