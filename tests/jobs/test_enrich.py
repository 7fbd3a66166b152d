"""The enrich job: complete, idempotent, incremental, and free of raw account ids."""

from __future__ import annotations

import json
from pathlib import Path

from chispa import assert_df_equality

from jobs import enrich, ingest

RAW_ACCOUNT = "raw-account-id-7f3a"


def event(i, day, model="qwen/qwen3-coder", account=RAW_ACCOUNT):
    return {
        "generation_id": f"g{i}", "created_at": f"2025-05-{day:02d}T12:00:00Z", "account_id": account,
        "model": model, "tokens_prompt": 100 * i, "tokens_completion": 10, "total_cost": 0.001,
        "billing_country": "fr", "language": "FR",
    }


def write(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def ingest_batch(spark, cfg, wh, events, labels=None):
    ingest.run(spark, {**cfg, "warehouse": wh, "inputs": {"events": str(events), "labels": labels and str(labels)}})


def enrich_run(spark, cfg, wh, **flags):
    return enrich.run(spark, {**cfg, "warehouse": wh, "enrich": {**cfg["enrich"], **flags}})


def silver(spark, wh):
    return spark.read.format("delta").load(f"{wh}/silver/events")


def test_full_then_incremental_equals_rebuild(spark, cfg, tmp_path):
    batch1 = write(tmp_path / "b1" / "ev.jsonl",
                   [event(1, 5), event(2, 5, "z/not-in-catalog"), event(3, 6), event(4, 7)])
    labels1 = write(tmp_path / "b1" / "lab.jsonl",
                    [{"generation_id": "g1", "category": "/Games/Roleplaying Games", "confidence": 0.9}])
    batch2 = write(tmp_path / "b2" / "ev.jsonl", [event(5, 8), event(6, 5)])  # new day 8, late row for day 5
    labels2 = write(tmp_path / "b2" / "lab.jsonl",
                    [{"generation_id": "g3", "category": "/Adult", "confidence": 0.7}])  # late label, day 6

    wh = str(tmp_path / "wh")
    ingest_batch(spark, cfg, wh, batch1, labels1)
    first = enrich_run(spark, cfg, wh)
    assert first["rows"] == 4 and first["unknown_models"] == {"z/not-in-catalog": 1}
    assert silver(spark, wh).count() == 4

    again = enrich_run(spark, cfg, wh)
    assert again["rows"] == 0  # nothing changed in bronze

    ingest_batch(spark, cfg, wh, batch2, labels2)
    second = enrich_run(spark, cfg, wh)
    assert second["dates"] == 3  # day 5 (late row), day 6 (late label), day 8 (new)
    assert second["rows"] == 3 + 1 + 1  # days 5 (g1, g2, g6), 6 (g3) and 8 (g5); day 7 untouched

    rebuilt_wh = str(tmp_path / "rebuilt")
    ingest_batch(spark, cfg, rebuilt_wh, tmp_path / "b*" / "ev.jsonl", tmp_path / "b*" / "lab.jsonl")
    enrich_run(spark, cfg, rebuilt_wh)
    assert_df_equality(silver(spark, wh), silver(spark, rebuilt_wh), ignore_row_order=True)

    bronze_ids = {r.generation_id for r in spark.read.format("delta").load(f"{wh}/bronze/events").collect()}
    silver_rows = silver(spark, wh).select("generation_id", "category").collect()
    assert sorted(r.generation_id for r in silver_rows) == sorted(bronze_ids)  # each exactly once
    assert {r.generation_id: r.category for r in silver_rows}["g3"] == "Roleplay"


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
