"""jobs.export writes every gold table as CSV and as Parquet, and DuckDB reads them back
with the row counts Spark sees in the Delta tables."""

from __future__ import annotations

import duckdb
import pytest

from jobs import export
from jobs.common.cli import PipelineError
from transforms.tables import GOLD_TABLES


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_every_gold_table_round_trips_through_duckdb(spark, generated_warehouse, tmp_path, fmt):
    wh = generated_warehouse["warehouse"]
    written = export.run({"warehouse": wh, "export_out": str(tmp_path), "export_format": fmt})
    assert sorted(written) == sorted(GOLD_TABLES)
    reader = "read_csv_auto" if fmt == "csv" else "read_parquet"
    for name in GOLD_TABLES:
        spark_rows = spark.read.format("delta").load(f"{wh}/gold/{name}").count()  # another engine's count
        path = tmp_path / f"{name}.{fmt}"
        duck_rows = duckdb.sql(f"SELECT count(*) FROM {reader}('{path}')").fetchone()[0]
        assert duck_rows == spark_rows == written[name][0], name
    # a spot check of content: the weekly segment shares still sum to 1 per week
    sums = duckdb.sql(f"SELECT week_start, sum(share) AS s FROM {reader}('{tmp_path}/weekly_segment_share.{fmt}') "
                      "GROUP BY week_start").fetchall()
    assert sums and all(abs(s - 1) < 1e-9 for _, s in sums)


def test_named_tables_only_and_unknown_names_are_errors(generated_warehouse, tmp_path):
    wh = generated_warehouse["warehouse"]
    written = export.run({"warehouse": wh, "export_out": str(tmp_path), "tables": ["language_share"]})
    assert list(written) == ["language_share"] and [p.name for p in tmp_path.iterdir()] == ["language_share.csv"]
    with pytest.raises(PipelineError, match="not a gold table: nope"):
        export.run({"warehouse": wh, "export_out": str(tmp_path), "tables": ["nope"]})
