"""Conformance on files other projects wrote (../shared/real-samples; SOURCES.md says where each came from).

Every data file there is read as a user would give it (auto format). The expected
outcomes were worked out by reading each file; the comment on each row says why.
Files of one source are read together, as one run would, and counted per file.
"""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from pyspark.sql import functions as F

from jobs import enrich, ingest
from jobs.common.cli import CONF_DIR, PROJECT_ROOT, PipelineError
from transforms import schema

SAMPLES = PROJECT_ROOT.parent / "shared" / "real-samples"

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/real-samples is not beside the project")

# file -> (requests in bronze, {reason: quarantined}, duplicates, spans skipped)
OTLP = {
    # INTERNAL span naming a provider and model; usage only in braintrust.metrics (1120 in, 64 out)
    "genai-interlingua_braintrust_handbuilt.json": (1, {}, 0, 0),
    # litellm_request (INTERNAL, chat, usage) is the call; its raw_gen_ai_request child has only llm.openai.*
    "genai-interlingua_litellm_chat.json": (1, {}, 0, 1),
    # OpenInference ChatCompletion: openinference.span.kind LLM, llm.token_count.*
    "genai-interlingua_openinference_0.1.58_chat.json": (1, {}, 0, 0),
    # old OpenLLMetry: CLIENT openai.chat with llm.request.type chat; its HTTP POST child is not a call
    "genai-interlingua_openllmetry-legacy_handbuilt.json": (1, {}, 0, 1),
    # OpenLLMetry 0.62.3: the CLIENT chat span, and a workflow span that is not a call
    "genai-interlingua_openllmetry_0.62.3_chat.json": (1, {}, 0, 1),
    # the official OpenAI instrumentation: one CLIENT chat span
    "genai-interlingua_otel-openai-v2_chat.json": (1, {}, 0, 0),
    # Vercel AI SDK: doGenerate is the call; the ai.generateText wrapper and ai.toolCall are not
    "genai-interlingua_vercel-ai-sdk_handbuilt.json": (1, {}, 0, 2),
    # Langfuse SDK: the `generation` observation is the call, the `span` observation is not
    "langfuse-test_langfuse-python-sdk_generation.json": (1, {}, 0, 1),
    # OpenLIT: CLIENT chat span with gen_ai.usage.cost
    "langfuse-test_openlit-1.27.0_chat.json": (1, {}, 0, 0),
    # the same span in protobufjs form: ids are {"type": "Buffer"} objects, not hex
    "langfuse-test_openlit-1.27.0_protobufjs-decoded.json": (0, {"otel_bad_ids": 1}, 0, 0),
    # Traceloop 0.33.9: deprecated usage names and llm.usage.total_tokens
    "langfuse-test_traceloop-0.33.9_chat.json": (1, {}, 0, 0),
    # the OTLP spec's example: one SERVER span with no GenAI attribute
    "negative_opentelemetry-proto_examples_trace.json": (0, {}, 0, 1),
    # OpenRouter's broadcast example: a model and usage, but placeholder ids ("abc123...")
    "openrouter-docs_broadcast-webhook_example.json": (0, {"otel_bad_ids": 1}, 0, 0),
}
OPENROUTER = {
    # an API error body, not a generation
    "itotori_generation_404_not_found.json": (0, {"openrouter_error": 1}, 0, 0),
    # a live generation: external_user null and no api_key, so an unknown account, kept
    "itotori_generation_deepseek-v4-flash_fireworks.json": (1, {}, 0, 0),
    # the OpenAPI example generation
    "openapi_get_generation_example.json": (1, {}, 0, 0),
}
LITELLM = {
    # one pretty-printed live row; metadata is an object, not a string
    "doit-datahub-exporter_spend_logs_row_v1.98.0.json": (1, {}, 0, 0),
    # the docs' partial row: no request_id, no time, no model
    "litellm-docs_cost-tracking_spendlogs_row_partial.json": (0, {"litellm_missing_request_id": 1}, 0, 0),
    # the docs' GCS payload: a startTime without a zone (read as UTC)
    "litellm-docs_gcs-bucket_spendlogs_payload.json": (1, {}, 0, 0),
    # three test payloads with one request_id: the first is kept
    "litellm-tests_spendlogs_payload_2025-03.jsonl": (1, {}, 2, 0),
    # two later payloads with that same request_id, read after the 2025-03 file: both repeats
    "litellm-tests_spendlogs_payload_later.jsonl": (0, {}, 2, 0),
}


def outcomes(spark, cfg, path: str) -> tuple[str, dict[str, tuple]]:
    """(format, file name -> (bronze, reasons, duplicates, skipped)) of one ingest's classification."""
    raw, fmt, _ = ingest.read_raw(spark, path, schema.EVENT_FIELDS, "--events", "auto", cfg)
    classified, caches = ingest.classify(raw, schema.EVENT_FIELDS, schema.NON_NEGATIVE_EVENT_COLUMNS,
                                         ["generation_id"], None, None, schema.EVENT_DEFAULTS)
    rows = classified.groupBy("source_file", "outcome", "reason").count().collect()
    for cached in caches:
        cached.unpersist()
    per_file: dict[str, list] = {}
    for r in rows:
        got = per_file.setdefault(r.source_file.rsplit("/", 1)[-1], [0, Counter(), 0, 0])
        if r.outcome == "bronze":
            got[0] += r["count"]
        elif r.outcome == "quarantine":
            got[1][r.reason] += r["count"]
        elif r.outcome == "duplicate":
            got[2] += r["count"]
        else:
            got[3] += r["count"]
    return fmt, {f: (b, dict(q), d, s) for f, (b, q, d, s) in per_file.items()}


@pytest.mark.parametrize("folder, glob, expected_format, expected", [
    ("otlp_json", "*.json", "otel", OTLP),
    ("openrouter", "*generation*.json", "openrouter", OPENROUTER),
    ("litellm", "*.json*", "litellm", LITELLM),
])
def test_every_request_of_a_real_export_is_counted_once(spark, cfg, folder, glob, expected_format, expected):
    fmt, got = outcomes(spark, cfg, str(SAMPLES / folder / glob))
    assert fmt == expected_format
    assert got == expected


@pytest.mark.parametrize("name, message", [
    ("openrouter/openapi_get_activity_example.json", "OpenRouter's per-day activity export"),
    ("bonus/openai_usage-completions_api-example.json", "a usage or cost report"),
    ("bonus/openai_costs_api-example.json", "a usage or cost report"),
    ("bonus/anthropic_usage-report-messages_docs-example.json", "a usage or cost report"),
    ("bonus/anthropic_cost-report_docs-example.json", "a usage or cost report"),
    ("litellm/REFERENCE_schema.prisma_LiteLLM_SpendLogs.txt", "unknown type"),
])
def test_an_aggregate_report_or_a_schema_is_one_line_error(spark, cfg, name, message):
    with pytest.raises(PipelineError, match=message) as err:
        ingest.read_raw(spark, str(SAMPLES / name), schema.EVENT_FIELDS, "--events", "auto", cfg)
    assert "\n" not in str(err.value)


def test_a_langfuse_trace_export_is_quarantined_whole(spark, cfg):
    # {"trace": {...}, "observations": [...]}: Langfuse's own export, not a request record
    # (its spans ingest through OTel): one record with no generation_id, kept in quarantine.
    _, got = outcomes(spark, cfg, str(SAMPLES / "bonus" / "langfuse_trace-export_vercel-ai-gemini_2026-04.json"))
    assert got == {"langfuse_trace-export_vercel-ai-gemini_2026-04.json": (0, {"missing_generation_id": 1}, 0, 0)}


def catalog_of_my_own(path) -> None:
    """20 models: 19 rows of the shipped catalog and a 2026 model it lacks. openai/gpt-4o,
    which conf/model_aliases.csv names, is left out."""
    with open(CONF_DIR / "models.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    named = ["openai/gpt-4o-mini", "openai/gpt-3.5-turbo", "anthropic/claude-sonnet-4.5", "anthropic/claude-3.5-sonnet"]
    others = [r for r in rows if r["model"] not in named and not r["model"].startswith(("openai/gpt-4o", "sao10k/"))]
    keep = [r for r in rows if r["model"] in named] + others[:15]
    new = dict(keep[0], model="deepseek/deepseek-v4-flash", author="deepseek", name="DeepSeek: V4 Flash",
               release_date="2026-04-23", open_weights="true", origin_country="CN", params_total_b="",
               params_active_b="", price_prompt_per_mtok="0.1", price_completion_per_mtok="0.3")
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(keep + [new])


def test_real_exports_through_enrich_with_a_catalog_of_my_own(spark, cfg, tmp_path, capsys):
    models = tmp_path / "models.csv"
    catalog_of_my_own(models)
    wh = str(tmp_path / "wh")
    run_cfg = {**cfg, "warehouse": wh, "models": str(models), "input_format": "auto"}
    for folder, glob in [("otlp_json", "*.json"), ("openrouter", "*generation*.json"), ("litellm", "*.json*")]:
        ingest.run(spark, {**run_cfg, "inputs": {"events": str(SAMPLES / folder / glob), "labels": None}})
    enrich.run(spark, {**run_cfg, "enrich": {**cfg["enrich"], "full": True}})
    printed = capsys.readouterr().out
    assert "files=json_document:13" in printed
    assert "model aliases in model_aliases.csv name models not in the catalog" in printed  # a warning, not an error
    silver = spark.read.format("delta").load(f"{wh}/silver/events")
    by_model = {(r.model, r.segment): r["count"] for r in silver.groupBy("model", "segment").count().collect()}
    assert by_model == {
        ("openai/gpt-4o-mini", "closed"): 6,  # gpt-4o-mini-2024-07-18 in six OTel captures
        ("openai/gpt-3.5-turbo", "closed"): 3,  # OpenLIT, Traceloop's gpt-3.5-turbo-0125, LiteLLM's GCS row
        ("anthropic/claude-sonnet-4.5", "closed"): 1,  # Braintrust's claude-sonnet-4-5-20260514 (a dated name)
        ("anthropic/claude-3.5-sonnet", "closed"): 1,  # LiteLLM's anthropic/claude-3-5-sonnet-20241022
        ("deepseek/deepseek-v4-flash", "oss_china"): 1,  # OpenRouter's permaslug deepseek-v4-flash-20260423
        ("gpt-4o", "unknown"): 2,  # Langfuse and a LiteLLM test row: not in this catalog
        ("sao10k/l3-stheno-8b", "unknown"): 1,  # the OpenAPI example's model
    }
    # No account: 8 OTel calls (only OpenLLMetry-legacy and Langfuse name a user) and the live OpenRouter row.
    assert silver.filter(F.col("account_key").isNull()).count() == 9
