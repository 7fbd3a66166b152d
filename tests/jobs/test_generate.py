"""The generator: same seed, same rows whatever the partitioning; contract-shaped output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from chispa import assert_df_equality

from jobs import generate
from jobs.common.cli import PROJECT_ROOT
from transforms.synthetic.plan import alias_table


def gen(spark, cfg, out, partitions, fmt="jsonl", n=3000):
    generate.run(spark, {**cfg, "generate": {"requests": n, "out": str(out), "seed": 3, "format": fmt,
                                              "label_rate": 0.05, "mess_rate": 0.05, "partitions": partitions}})


@pytest.fixture(scope="module")
def jsonl_two(spark, cfg, tmp_path_factory):
    """3,000 requests in JSON Lines from 2 partitions (read by the two tests below)."""
    out = tmp_path_factory.mktemp("generated-jsonl")
    gen(spark, cfg, out, 2)
    return out


def test_same_seed_same_rows_whatever_the_partitions(spark, cfg, tmp_path, jsonl_two):
    gen(spark, cfg, tmp_path / "b", 3)
    for part in ("events", "labels"):
        a = spark.read.text(str(jsonl_two / part))
        b = spark.read.text(str(tmp_path / "b" / part))
        assert a.count() > 0
        assert_df_equality(a, b, ignore_row_order=True)
    files = sorted(p.name for p in (jsonl_two / "events").iterdir() if not p.name.startswith((".", "_")))
    assert len(files) == 2 and all(f.endswith(".jsonl") for f in files)


def test_jsonl_rows_follow_the_contract(jsonl_two):
    lines = [line for p in sorted((jsonl_two / "events").glob("*.jsonl")) for line in p.read_text().splitlines()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    assert 3000 < len(lines) < 3000 * 1.05  # duplicates add lines
    assert len(parsed) < len(lines)  # some lines are truncated on purpose
    ok = [r for r in parsed if r.get("model") and r.get("tokens_prompt", -1) >= 0 and r["created_at"].endswith("Z")]
    assert set(ok[0]) == {
        "generation_id", "created_at", "account_id", "model", "provider_name", "tokens_prompt", "tokens_completion",
        "native_tokens_reasoning", "native_tokens_cached", "total_cost", "is_byok", "finish_reason", "streamed",
        "cancelled", "latency_ms", "generation_time_ms", "billing_country", "language", "app_id"}
    assert all("2024-11-03" <= r["created_at"][:10] <= "2025-11-30" for r in ok)
    assert all(r["native_tokens_reasoning"] <= r["tokens_completion"] for r in ok)
    assert all(r["native_tokens_cached"] <= r["tokens_prompt"] for r in ok)
    labels = [json.loads(x) for p in (jsonl_two / "labels").glob("*.jsonl") for x in p.read_text().splitlines()]
    paths = set((PROJECT_ROOT / "conf" / "google_nl_content_categories_v2.txt").read_text().splitlines())
    assert labels and all(lab["category"] in paths and 0 <= lab["confidence"] <= 1 for lab in labels)


def test_parquet_output_is_typed(spark, cfg, tmp_path):
    gen(spark, cfg, tmp_path / "p", 2, fmt="parquet", n=1000)
    df = spark.read.parquet(str(tmp_path / "p" / "events"))
    types = dict(df.dtypes)
    assert types["created_at"] == "timestamp" and types["tokens_prompt"] == "bigint" and types["is_byok"] == "boolean"


def test_alias_table_is_exact():
    probs = {"a": 0.5, "b": 0.3, "c": 0.2}
    table = alias_table(probs, 5)
    implied = {}
    for _, threshold, primary, alias in table:
        implied[primary] = implied.get(primary, 0) + threshold / 5
        implied[alias] = implied.get(alias, 0) + (1 - threshold) / 5
    assert {k: round(v, 12) for k, v in implied.items() if v > 0} == probs


def test_cli_rejects_bad_rates(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jobs.generate", "--requests", "10", "--out", str(tmp_path),
                           "--mess-rate", "1.5"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == "error: --mess-rate must be in [0, 1]"


def test_rows_pay_the_list_price_of_their_week(spark, jsonl_two):
    """Each request's prices are the catalog's times its model's price step in its week."""
    params = generate.load_params()
    # The models with a price change, and one active from the window's first day.
    keep = {c[0] for c in params["price_changes"]} | {"mistralai/mistral-nemo"}
    params["models"] = [s for s in params["models"] if s[0] in keep]
    params["tool_calls"]["top_account"]["share_of_requests"] = 0.0
    plan = generate.build_plan(params, generate.catalog_info(), 4000)
    rows = generate.requests(spark.range(0, 4000, numPartitions=2), plan, generate.plan_tables(spark, plan, params),
                             params, 5).select("model", "week_idx", "price_prompt", "price_completion").collect()
    stepped = 0
    assert "mistralai/mistral-nemo" not in plan.price_steps
    for r in rows:
        info, step = plan.models[r.model], plan.price_steps.get(r.model, [1.0] * 60)[r.week_idx]
        assert abs(r.price_prompt - info.price_prompt * step) < 1e-12
        assert abs(r.price_completion - info.price_completion * step) < 1e-12
        stepped += step != 1.0
    assert stepped > 100  # many rows fall before a change, at a price other than the catalog's
    manifest = json.loads((jsonl_two / "_manifest.json").read_text())
    assert manifest["planted_elasticity"]["within_model"] == params["price_response"]["within_model"]
    assert manifest["planted_elasticity"]["cross_section"] == params["price_response"]["cross_section"]
