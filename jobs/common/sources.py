"""Raw input files -> records: how each file is read, and which source format it holds.

JSON files are decided one by one. A `.jsonl` or `.ndjson` file (optionally `.gz`) is
JSON Lines. A `.json` file is JSON Lines when its first non-blank line is a whole JSON
object (what Spark, the OpenTelemetry Collector's file exporter and log shippers
write); otherwise it is one JSON document (pretty-printed, an array of records, an
OTLP export, an API response), read whole: an array's elements are its records, an
object is one record. Every record keeps its file and its position in the file.

A document that is an aggregate report rather than per-request metadata (OpenRouter's
per-day activity export, OpenAI's and Anthropic's usage and cost reports) stops the
run with one line that says so, instead of one quarantined row per bucket.
"""

from __future__ import annotations

import gzip
import json
from urllib.parse import unquote, urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common import warehouse
from jobs.common.cli import PipelineError

LINE_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
HEAD_LINES = 5


def first_line_is_object(lines: list[str]) -> bool:
    """True when the first non-blank line is a whole JSON object (JSON Lines); an empty file counts as lines."""
    for line in lines:
        if line.strip():
            try:
                return isinstance(json.loads(line), dict)
            except ValueError:
                return False
    return True


def _head(spark: SparkSession, uri: str) -> list[str]:
    """The first few non-blank lines of a file: read directly when local, else one small Spark read."""
    if warehouse.is_local(uri):
        path = unquote(urlparse(uri).path) if uri.startswith("file:") else uri
        opener = gzip.open if path.lower().endswith(".gz") else open
        out: list[str] = []
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    out.append(line)
                    if len(out) == HEAD_LINES:
                        break
        return out
    return [r.value for r in spark.read.text(uri).limit(HEAD_LINES).collect()]  # a few lines


def split_json_files(spark: SparkSession, files: list[str]) -> tuple[list[str], list[str]]:
    """(JSON Lines files, JSON document files), by extension, else by the first line's content."""
    lines, documents = [], []
    for f in files:
        if f.lower().endswith(LINE_SUFFIXES) or first_line_is_object(_head(spark, f)):
            lines.append(f)
        else:
            documents.append(f)
    return lines, documents


def json_records(spark: SparkSession, files: list[str]) -> tuple[DataFrame, dict[str, int]]:
    """Every JSON record of the files as (value, source_file, row_pos), and how many files were read how.

    A document that does not parse is one record (its whole text), which the format's
    parser reports as `malformed_record`; an empty array has no records.
    """
    line_files, document_files = split_json_files(spark, files)
    parts = []
    if line_files:
        parts.append(spark.read.text(line_files).select(
            "value", F.input_file_name().alias("source_file"), F.monotonically_increasing_id().alias("row_pos"),
        ))
    if document_files:
        items = F.from_json("value", T.ArrayType(T.StringType()))
        parts.append(
            spark.read.text(document_files, wholetext=True)
            .select("value", F.input_file_name().alias("source_file"))
            .select("source_file", F.posexplode(F.when(items.isNotNull(), items).otherwise(F.array("value")))
                    .alias("row_pos", "value"))
            .select("value", "source_file", F.col("row_pos").cast("long"))
        )
    records = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    read_as = {"jsonl": len(line_files), "json_document": len(document_files)}
    return records, {k: v for k, v in read_as.items() if v}


def _aggregate_report(record: dict) -> str | None:
    """The name of an aggregate report a record is, or None for anything else."""
    data = record.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    first = data[0]
    if "date" in first and ("requests" in first or "usage" in first):
        return "OpenRouter's per-day activity export (/api/v1/activity: totals per day and model)"
    if "results" in first and ({"starting_at", "start_time"} & first.keys()):
        return "a usage or cost report (totals per time bucket, as OpenAI's and Anthropic's admin APIs return)"
    return None


def sample_records(records: DataFrame, n: int = 20) -> list[dict]:
    """The first records that are JSON objects (a tiny read)."""
    out = []
    for r in records.limit(n).collect():
        try:
            value = json.loads(r.value)
        except (TypeError, ValueError):
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def check_request_records(sample: list[dict], what: str) -> None:
    """Stop with one line when the input is an aggregate report, not per-request metadata."""
    for record in sample:
        report = _aggregate_report(record)
        if report:
            raise PipelineError(f"{what}: this is {report}, not per-request generation metadata")


def detect_json_format(sample: list[dict]) -> str:
    """The source format of JSON records: otel, openrouter, litellm, or the contract's own (gateway)."""
    for record in sample:
        if "resourceSpans" in record:
            return "otel"
        if isinstance(record.get("data"), dict) or isinstance(record.get("error"), dict) or (
            "id" in record and "generation_id" not in record
            and ("tokens_prompt" in record or "native_tokens_prompt" in record)
        ):
            return "openrouter"
        if ("request_id" in record and "startTime" in record) or (
            "spend" in record and {"model_group", "call_type", "api_key"} & record.keys()
        ):
            return "litellm"
        return "gateway"
    return "gateway"
