"""Each source format ingests into bronze with a correct accounting line (samples written from the specs)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jobs import ingest, pipeline
from jobs.common.cli import PROJECT_ROOT
from tests.helpers import event

SAMPLES = PROJECT_ROOT / "samples" / "formats"


def run(spark, cfg, tmp_path, name, fmt="auto", **extra):
    wh = str(tmp_path / "wh")
    result = ingest.run(spark, {**cfg, **extra, "warehouse": wh, "input_format": fmt,
                                "inputs": {"events": str(SAMPLES / name), "labels": None}})
    rows = {r.generation_id: r for r in spark.read.format("delta").load(f"{wh}/bronze/events").collect()}
    quarantine = tmp_path / "wh" / "quarantine" / "events"
    reasons = sorted(r.reason for r in spark.read.format("delta").load(str(quarantine)).collect()) \
        if quarantine.exists() else []
    return result["events"], rows, reasons


def test_openrouter_generation_metadata(spark, cfg, tmp_path):
    acc, rows, reasons = run(spark, cfg, tmp_path, "openrouter_generations.jsonl")
    assert acc.input_format == "openrouter"
    assert (acc.read, acc.added, acc.quarantined, acc.duplicates, acc.no_account) == (6, 3, 3, 0, 1)
    assert reasons == ["malformed_record", "negative_tokens_prompt", "openrouter_missing_id"]
    assert rows["gen-or-4"].account_id is None  # no account field at all: an unknown account, kept
    r = rows["gen-or-1"]
    assert (r.account_id, r.model, r.provider_name, r.app_id) == ("user-42", "anthropic/claude-sonnet-4", "Anthropic", "1234")
    assert (r.tokens_prompt, r.tokens_completion, r.native_tokens_reasoning, r.native_tokens_cached) == (2000, 300, 120, 1500)
    assert (r.total_cost, r.finish_reason, r.latency_ms, r.generation_time_ms) == (0.0123, "tool_calls", 950, 4200)
    assert r.created_at == dt.datetime(2025, 6, 2, 10, 15, 30, 123000)
    assert (r.billing_country, r.language) == ("ZZ", "und")
    assert rows["gen-or-2"].account_id == "sk-or-v1-hash"  # external_user null: the next configured field


def test_otel_genai_spans(spark, cfg, tmp_path):
    acc, rows, reasons = run(spark, cfg, tmp_path, "otel_genai_spans.jsonl")
    assert acc.input_format == "otel"
    assert (acc.read, acc.added, acc.quarantined, acc.duplicates, acc.skipped, acc.no_account) == (4, 3, 1, 0, 2, 1)
    assert reasons == ["malformed_record"]
    assert rows["otel-1af7651916cd43dd8448eb211c80319c-d7ad6b7169203333"].account_id is None  # no user attribute
    a = rows["otel-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"]
    assert (a.account_id, a.model, a.provider_name, a.app_id) == ("alice", "gpt-4o-mini-2024-07-18", "openai", "support-bot")
    assert (a.tokens_prompt, a.tokens_completion, a.native_tokens_cached, a.finish_reason) == (1200, 200, 1000, "tool_calls")
    assert (a.streamed, a.latency_ms, a.generation_time_ms) == (True, 350, 2500)
    assert a.created_at == dt.datetime(2025, 6, 2, 10, 0, 0)
    assert a.total_cost == pytest.approx(0.00042)  # its gen_ai.usage.cost attribute (a default cost attribute)
    b = rows["otel-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"]  # deprecated attribute names
    assert (b.account_id, b.provider_name, b.tokens_prompt, b.tokens_completion) == ("carol", "anthropic", 5000, 400)
    assert (b.native_tokens_reasoning, b.generation_time_ms) == (100, 5000)
    assert b.total_cost == pytest.approx((5000 * 3 + 400 * 15) / 1e6)  # claude-sonnet-4 via the alias table


def test_otel_list_price_without_cost_attributes(spark, cfg, tmp_path):
    acc, rows, _ = run(spark, cfg, tmp_path, "otel_genai_spans.jsonl", "otel",
                       formats={"otel": {"account_attributes": ["user.id", "enduser.id"], "cost_attributes": []}})
    a = rows["otel-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"]
    assert a.total_cost == pytest.approx((1200 * 0.15 + 200 * 0.6) / 1e6)  # catalog list price of gpt-4o-mini


@pytest.mark.parametrize("name", ["litellm_spend_logs.csv", "litellm_spend_logs.jsonl"])
def test_litellm_spend_logs(spark, cfg, tmp_path, name):
    acc, rows, reasons = run(spark, cfg, tmp_path, name)
    assert acc.input_format == "litellm"
    if name.endswith(".csv"):
        assert (acc.read, acc.added, acc.quarantined, acc.no_account) == (6, 4, 2, 1)
        assert rows["req-6"].call_type == "aembedding"  # kept in bronze with its call type
        assert reasons == ["litellm_bad_metadata", "litellm_missing_request_id"]
    else:
        assert (acc.read, acc.added, acc.quarantined) == (2, 2, 0)
    one, two = rows["req-1"], rows["req-2"]
    assert (one.account_id, one.model, one.provider_name, one.app_id) == (
        "cust-9", "claude-sonnet-4-20250514", "anthropic", "team-a")
    assert (one.tokens_prompt, one.tokens_completion, one.native_tokens_cached, one.native_tokens_reasoning) == (
        3000, 250, 2500, 80)
    assert (one.total_cost, one.latency_ms, one.generation_time_ms) == (0.0135, 700, 3800)
    assert (two.account_id, two.native_tokens_cached, two.finish_reason) == ("user-7", 600, "error")
    assert two.created_at == dt.datetime(2025, 6, 2, 10, 5, 0)


def test_whole_pipeline_on_litellm_resolves_aliases(spark, cfg, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(cfg["privacy"]["account_key_env"], raising=False)
    wh = str(tmp_path / "wh")
    pipeline.run(spark, {**cfg, "warehouse": wh, "input_format": "auto", "stages": ["ingest", "enrich", "summarize"],
                         "inputs": {"events": str(SAMPLES / "litellm_spend_logs.csv"), "labels": None}})
    printed = capsys.readouterr().out
    assert "enrich: warning: STATE_OF_AI_ACCOUNT_KEY is not set" in printed  # the public development key is in use
    assert "enrich: 1 calls that are not completions" in printed  # req-6, an embedding: in bronze, not in silver
    silver = {r.model_variant: (r.model, r.segment) for r in spark.read.format("delta").load(f"{wh}/silver/events").collect()}
    assert silver == {"claude-sonnet-4-20250514": ("anthropic/claude-sonnet-4", "closed"),
                      "gpt-4o-mini": ("openai/gpt-4o-mini", "closed"),
                      "gpt-4o": ("openai/gpt-4o", "closed")}  # the row without an account: kept
    seg = spark.read.format("delta").load(f"{wh}/gold/weekly_segment_share").collect()
    # Every completion counts, the one without an account (req-4, 5 + 5 tokens) included; the embedding does not.
    assert [(r.segment, r.tokens, r.share) for r in seg] == [("closed", 3000 + 250 + 900 + 50 + 10, 1.0)]


def span(span_id, parent, kind, **attributes):
    values = [{"key": k.replace("__", "."), "value": {"stringValue": str(v)}} for k, v in attributes.items()]
    return {"traceId": "ab" * 16, "spanId": span_id, "parentSpanId": parent, "kind": kind, "name": "x",
            "startTimeUnixNano": "1749823200000000000", "endTimeUnixNano": "1749823201000000000",
            "attributes": values}


def test_a_wrapper_span_around_a_call_is_not_counted_twice(spark, cfg, tmp_path):
    # A gateway span (INTERNAL, chat, with model and usage) around the instrumented client
    # call (CLIENT, chat): one LLM call, counted at the innermost span. Pretty-printed, as
    # one export per .json file.
    usage = {"gen_ai__operation__name": "chat", "gen_ai__request__model": "gpt-4o-mini",
             "gen_ai__usage__input_tokens": 10, "gen_ai__usage__output_tokens": 5, "user__id": "u1"}
    export = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        span("1" * 16, None, "SPAN_KIND_INTERNAL", **usage), span("2" * 16, "1" * 16, 3, **usage)]}]}]}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "trace.json").write_text(json.dumps(export, indent=2))
    acc = ingest.run(spark, {**cfg, "warehouse": str(tmp_path / "wh"), "input_format": "auto",
                             "inputs": {"events": str(tmp_path / "in"), "labels": None}})["events"]
    assert (acc.input_format, acc.read, acc.added, acc.skipped, acc.files) == ("otel", 1, 1, 1, {"json_document": 1})
    ids = [r.generation_id for r in spark.read.format("delta").load(str(tmp_path / "wh" / "bronze" / "events")).collect()]
    assert ids == ["otel-" + "ab" * 16 + "-" + "2" * 16]


def test_a_json_array_document_is_read_as_its_records(spark, cfg, tmp_path):
    # A pretty-printed array: two contract records and a number, which is no record.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "events.json").write_text(json.dumps([event(1, 5), event(2, 6), 3], indent=2))
    (tmp_path / "in" / "more.json").write_text(json.dumps(event(3, 7)) + "\n")  # one line: JSON Lines
    acc = ingest.run(spark, {**cfg, "warehouse": str(tmp_path / "wh"), "input_format": "auto",
                             "inputs": {"events": str(tmp_path / "in"), "labels": None}})["events"]
    assert (acc.read, acc.added, acc.quarantined, acc.reasons) == (4, 3, 1, {"malformed_record": 1})
    assert acc.files == {"json_document": 1, "jsonl": 1}
