"""tools.baseline, the benchmark's DuckDB yardstick, does the pipeline's work: from the
same raw files it reaches the same weekly segment, open-weights model and category
tokens and the same per-model tokens and spend as the gold tables Spark wrote."""

from __future__ import annotations

import duckdb
import pytest

from tools import baseline


@pytest.fixture(scope="module")
def duck(generated_warehouse):
    con = duckdb.connect()
    root = generated_warehouse["root"]
    result = baseline.run(str(root / "raw" / "events"), str(root / "raw" / "labels"), threads=2, con=con)
    return con, result


@pytest.mark.parametrize("table, keys, value", [
    ("weekly_segment_share", ["week_start", "segment"], "tokens"),
    ("weekly_oss_model_share", ["week_start", "model"], "tokens"),
    ("weekly_category_share", ["week_start", "category"], "tokens"),
    ("model_cost_usage", ["model"], "tokens"),
])
def test_baseline_tables_equal_gold(spark, generated_warehouse, duck, table, keys, value):
    con, result = duck
    gold = spark.read.format("delta").load(f"{generated_warehouse['warehouse']}/gold/{table}")
    ours = {tuple(r[k] for k in keys): r[value] for r in gold.select(*keys, value).collect()}  # small tables
    theirs = {tuple(r[:-1]): r[-1] for r in con.execute(f"SELECT {', '.join(keys)}, {value} FROM {table}").fetchall()}
    assert len(ours) > 5
    assert theirs == ours
    assert result.rows[table] == len(ours)


def test_baseline_spend_and_elasticity_agree_with_gold(spark, generated_warehouse, duck):
    con, _ = duck
    wh = generated_warehouse["warehouse"]
    gold = {r["model"]: r["spend"] for r in spark.read.format("delta").load(f"{wh}/gold/model_cost_usage").collect()}
    theirs = dict(con.execute("SELECT model, spend FROM model_cost_usage").fetchall())
    assert theirs.keys() == gold.keys()
    assert all(abs((theirs[m] or 0.0) - (gold[m] or 0.0)) <= 1e-9 * max(1.0, abs(gold[m] or 0.0)) for m in gold)
    fit = spark.read.format("delta").load(f"{wh}/gold/price_elasticity").filter(
        "scope = 'all' AND method = 'ols'").first()
    slope, n = con.execute("SELECT elasticity, n_models FROM price_elasticity").fetchone()
    assert n == fit["n_models"]
    assert slope == pytest.approx(fit["elasticity"], rel=1e-9)
