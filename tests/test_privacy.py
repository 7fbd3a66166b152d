"""No raw account id reaches silver or gold (checked on the generated year's warehouse)."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql import types as T


def delta_tables(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("_delta_log") if p.is_dir())


def test_no_raw_account_id_in_silver_or_gold(spark, generated_warehouse):
    wh = Path(generated_warehouse["warehouse"])
    raw_ids = spark.read.format("delta").load(str(wh / "bronze" / "events")).select("account_id").distinct()
    n_raw = raw_ids.count()
    assert n_raw > 100  # the generated year's accounts ("acct-<hex>" and a few named ones)
    tables = delta_tables(wh / "silver") + delta_tables(wh / "gold")
    assert len(tables) >= 2 + 22
    for path in tables:
        df = spark.read.format("delta").load(str(path))
        strings = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]
        assert "account_id" not in df.columns, path
        if not strings:
            continue
        # Any string cell equal to a raw id, or holding one inside it.
        values = df.select(F.explode(F.array(*[F.col(c) for c in strings])).alias("value")).distinct()
        equal = values.join(F.broadcast(raw_ids), values["value"] == raw_ids["account_id"], "left_semi")
        inside = values.filter(F.col("value").contains("acct-"))
        assert equal.count() == 0 and inside.count() == 0, path
