"""Stage 1: raw event and label files -> bronze Delta tables, losing nothing.

    python -m jobs.ingest --events PATH [--labels PATH] --warehouse DIR [--conf FILE] [--reread-files]

Every input row lands in exactly one of: bronze (valid, first seen), quarantine
(rejected, with its original content and a reason) or the duplicate count. The
run's accounting (read = added + quarantined + duplicates) is printed and appended
to `ops/ingest_runs`, with the files it read: a file an earlier run read, unchanged
since, is not read again; the run counts it as unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common import reference, sources, warehouse
from jobs.common.cli import (
    PipelineError,
    base_parser,
    exit_with,
    load_conf,
    parse,
    run_cli,
    spark_overrides,
)
from jobs.common.session import build_session, local_frame, sql_settings
from transforms import enrich, schema, tables, validate
from transforms.formats import gateway, litellm, openrouter, otel

RUNS_SCHEMA = T.StructType([
    T.StructField("ingest_run_id", T.StringType(), False),
    T.StructField("kind", T.StringType(), False),
    T.StructField("input_path", T.StringType(), True),
    T.StructField("started_at", T.TimestampType(), False),
    T.StructField("finished_at", T.TimestampType(), False),
    T.StructField("rows_read", T.LongType(), False),
    T.StructField("rows_added", T.LongType(), False),
    T.StructField("rows_quarantined", T.LongType(), False),
    T.StructField("duplicates_dropped", T.LongType(), False),
    T.StructField("rows_skipped", T.LongType(), True),
    T.StructField("input_format", T.StringType(), True),
    T.StructField("quarantine_reasons", T.MapType(T.StringType(), T.LongType()), True),
    T.StructField("rows_no_account", T.LongType(), True),
    T.StructField("input_files", T.MapType(T.StringType(), T.LongType()), True),
    T.StructField("attempts", T.LongType(), True),
    T.StructField("files_unchanged", T.LongType(), True),
    # The files the run read, each with what says whether it changed since: a file listed
    # again with the same path, size and modification time is not read again (its rows
    # are in bronze or quarantine already). Recorded after the bronze commit, so a run
    # killed before it leaves its files to be read again (their rows then duplicates).
    T.StructField("files_read", T.ArrayType(T.StructType([
        T.StructField("path", T.StringType(), True),  # (Delta enforces no NOT NULL inside an array)
        T.StructField("size", T.LongType(), True),
        T.StructField("modified_ms", T.LongType(), True),
    ])), True),
])


@dataclass
class Accounting:
    """The counts of one ingest of one kind of input; `read` always equals the other three."""

    kind: str
    read: int = 0
    added: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # records that are not requests (non-GenAI spans); not part of `read`
    input_format: str = "gateway"
    no_account: int = 0  # added rows without an account id (counted in `added`)
    files: dict[str, int] = field(default_factory=dict)  # files read per kind: jsonl, json_document, csv, parquet
    attempts: int = 1  # tries of the bronze commit (more than 1: another run committed first)
    unchanged_files: int = 0  # files ingested before, unchanged since: not read again (not part of `read`)
    files_read: list[warehouse.InputFile] = field(default_factory=list)  # the files read
    days: set = field(default_factory=set)  # the event dates of the added rows

    def line(self) -> str:
        """The one-line accounting the job prints."""
        text = (
            f"ingest {self.kind}: read={self.read} added={self.added} "
            f"quarantined={self.quarantined} duplicates={self.duplicates}"
        )
        if self.kind == "events":
            text += f" no_account={self.no_account}"
        if self.input_format != "gateway":
            text += f" format={self.input_format}"
        if self.skipped:
            text += f" skipped_spans={self.skipped}"
        if self.files:
            text += " files=" + ",".join(f"{k}:{v}" for k, v in sorted(self.files.items()))
        if self.unchanged_files:
            text += f" unchanged_files={self.unchanged_files}"
        if self.attempts > 1:
            text += f" attempts={self.attempts}"
        return text


@dataclass(frozen=True)
class SourceFormat:
    """How a source format's files become raw rows: its JSON records, and its CSV or
    Parquet tables (None: a JSON-only format). Each takes (spark, records or table,
    fields, the conf's `formats.<name>` block, cfg)."""

    from_records: Callable[..., DataFrame]
    from_table: Callable[..., DataFrame] | None = None


def _otel_records(spark, records, fields, o, cfg):
    return otel.parse_lines(
        records, fields, o.get("account_attributes", otel.ACCOUNT_ATTRIBUTES), otel.cost_attributes(o),
        reference.load_models(spark, cfg.get("models")), reference.load_aliases(spark, cfg.get("models")),
    )


# The source formats `--format` names, each read through one entry ("auto" detects one).
SOURCE_FORMATS = {
    "gateway": SourceFormat(
        lambda spark, records, fields, o, cfg: gateway.parse_json_lines(records, fields),
        lambda spark, table, fields, o, cfg: gateway.from_columns(table, fields)),
    "openrouter": SourceFormat(
        lambda spark, records, fields, o, cfg: openrouter.parse_lines(
            records, fields, o.get("account_fields", openrouter.ACCOUNT_FIELDS))),
    "otel": SourceFormat(_otel_records),
    "litellm": SourceFormat(
        lambda spark, records, fields, o, cfg: litellm.parse_lines(
            records, fields, o.get("account_fields", litellm.ACCOUNT_FIELDS)),
        lambda spark, table, fields, o, cfg: litellm.from_columns(
            table, fields, o.get("account_fields", litellm.ACCOUNT_FIELDS))),
}
FORMATS = ["auto", *SOURCE_FORMATS]


def _columnar_format(spark: SparkSession, grouped: dict[str, list[str]], what: str) -> str:
    """LiteLLM or the contract's own, from the columns of the first CSV or Parquet file."""
    for fmt in ("csv", "parquet"):
        if fmt in grouped:
            try:
                columns = set(_reader(spark, fmt).load(grouped[fmt][0]).columns)
            except Exception as exc:  # an unreadable footer or type, as in read_raw
                raise PipelineError(f"{what}: cannot read {fmt} input: {str(exc).splitlines()[0][:200]}") from exc
            return "litellm" if {"request_id", "startTime"} <= columns else "gateway"
    return "gateway"


def _reader(spark: SparkSession, fmt: str):
    # RFC 4180 CSV: a quote inside a quoted field is doubled (as pandas and csv write it).
    return spark.read.options(header="true", escape='"').format(fmt) if fmt == "csv" else spark.read.format(fmt)


def read_raw(spark: SparkSession, path: str, fields, what: str, input_format: str = "gateway",
             cfg: dict | None = None,
             files: dict[str, list[warehouse.InputFile]] | None = None) -> tuple[DataFrame | None, str, dict[str, int]]:
    """Read every data file under path (or the `files` of it listed already, by format)
    into raw rows (text fields).

    Returns (rows, format, files read per kind: jsonl, json_document, csv, parquet);
    rows is None when there are no files.
    """
    cfg = cfg or {}
    listed = warehouse.list_input_files(spark, path, what) if files is None else files
    grouped = {fmt: [f.path for f in found] for fmt, found in listed.items() if found}
    formats_cfg = cfg.get("formats", {})
    read_as: dict[str, int] = {}
    records = None
    if "json" in grouped:
        records, read_as = sources.json_records(spark, grouped["json"])
        sample = sources.sample_records(records)
        sources.check_request_records(sample, what)
        if input_format == "auto":
            input_format = sources.detect_json_format(sample)
    if input_format == "auto":
        input_format = _columnar_format(spark, grouped, what)
    source = SOURCE_FORMATS[input_format]
    options = formats_cfg.get(input_format, {})
    parts = [] if records is None else [source.from_records(spark, records, fields, options, cfg)]
    for fmt, paths in grouped.items():
        if fmt == "json":
            continue
        if source.from_table is None:
            raise PipelineError(f"{what}: the {input_format} format is JSON; found {fmt} files")
        try:
            table = _reader(spark, fmt).load(paths)
        except Exception as exc:  # schema conflicts between files, unreadable footers
            raise PipelineError(f"{what}: cannot read {fmt} input: {str(exc).splitlines()[0][:200]}") from exc
        read_as[fmt] = len(paths)
        table = table.select(
            "*", F.input_file_name().alias("source_file"),
            F.monotonically_increasing_id().alias("row_pos"),
        )
        parts.append(source.from_table(spark, table, fields, options, cfg))
    if not parts:
        return None, input_format, read_as
    raw = parts[0]
    for part in parts[1:]:  # a JSON part has validate's TYPED columns, a table's has not (null there)
        raw = raw.unionByName(part, allowMissingColumns=True)
    return raw, input_format, read_as


def classify(
    raw: DataFrame,
    fields,
    non_negative: list[str],
    keys: list[str],
    existing_keys: DataFrame | None,
    extra_rules=None,
    defaults=None,
    broadcast_rows: int = 2_000_000,
    partition: tuple[str, Column] | None = None,
) -> tuple[DataFrame, list[DataFrame]]:
    """Give every raw row its `reason`, typed fields and `outcome` (bronze/quarantine/duplicate).

    The input is parsed, validated and typed once into a cache; only a rejected row
    keeps its original line there (quarantine needs it, bronze does not). Duplicates
    are found on narrow columns (keys and read position) from that cache. The keys
    seen more than once in the batch or already in bronze are usually few: when
    there are at most `broadcast_rows` of them they are broadcast, so the full rows
    are never shuffled for the join (a batch that repeats much of bronze falls back
    to a shuffle join). Returns the classified rows and the caches to release, in the
    order to release them: the flags, computed from the typed rows, first. (Unpersisting
    a cache that another cached plan reads makes Spark plan that other one again: 0.9 s
    for a batch of ten events, bench/results.md.)

    `partition` (bronze's partition column, and the column that gives a batch row's
    value of it): existing_keys is read only in the partitions the batch's valid rows
    fall in, so a weekly batch reads a week of bronze's keys, not all of its history.
    """
    typed = (
        validate.validated(raw, fields, non_negative, extra_rules, defaults)
        .withColumn("raw", F.when(F.col("reason").isNotNull(), F.col("raw")))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    valid = typed.filter(F.col("reason").isNull() & ~F.col("is_skipped"))
    if existing_keys is not None and partition is not None:
        column, value = partition
        # A few hundred values at most (days); this pass also fills the cache of typed rows.
        values = sorted(r[0] for r in valid.select(value).distinct().collect() if r[0] is not None)
        existing_keys = existing_keys.filter(F.col(column).isin(values))
    valid_keys = valid.select(*keys, "source_file", "row_pos")
    flags = validate.duplicate_flags(valid_keys, keys, existing_keys).persist(StorageLevel.MEMORY_AND_DISK)
    small = flags.count() <= broadcast_rows  # this pass also fills the cache of typed rows
    classified = (
        typed.join(F.broadcast(flags) if small else flags, on=keys, how="left")
        .withColumn(
            "outcome",
            validate.outcome(
                F.col("reason").isNull(),
                F.when(validate.is_repeat(), F.lit(2)).otherwise(F.lit(1)),
                F.coalesce("in_bronze", F.lit(False)),
                F.col("is_skipped"),
            ),
        )
        .drop("_first_file", "_first_pos", "in_bronze")
    )
    return classified, [flags, typed]


def count_outcomes(classified: DataFrame, kind: str) -> Accounting:
    """One small aggregate over the classified rows: counts per outcome and reason."""
    is_event = kind == "events"
    no_account = (F.col("outcome") == "bronze") & F.col("account_id").isNull() if is_event else F.lit(False)
    day = F.when(F.col("outcome") == "bronze", F.col("event_date")) if is_event else F.lit(None).cast("date")
    rows = (  # a handful of rows, each with at most one value per day
        classified.groupBy("outcome", "reason", no_account.alias("no_account"))
        .agg(F.count(F.lit(1)).alias("count"), F.collect_set(day).alias("days")).collect()
    )
    acc = Accounting(kind)
    for row in rows:
        acc.days.update(row["days"])
        if row["no_account"]:
            acc.no_account += row["count"]
        if row["outcome"] == "skipped":
            acc.skipped += row["count"]
            continue
        acc.read += row["count"]
        if row["outcome"] == "bronze":
            acc.added += row["count"]
        elif row["outcome"] == "duplicate":
            acc.duplicates += row["count"]
        else:
            acc.quarantined += row["count"]
            acc.reasons[row["reason"]] = acc.reasons.get(row["reason"], 0) + row["count"]
    return acc


def ingest_one(
    spark: SparkSession, cfg: dict, kind: str, path: str, wh: str, run_id: str
) -> Accounting:
    """Ingest the events or labels under path into bronze and quarantine; return the counts."""
    if kind == "events":
        fields, keys = schema.EVENT_FIELDS, ["generation_id"]
        non_negative, defaults = schema.NON_NEGATIVE_EVENT_COLUMNS, schema.EVENT_DEFAULTS
        extra = validate.event_range_rules(cfg.get("ingest", {}))
        bronze_schema, partition_by = schema.BRONZE_EVENT_SCHEMA, ["event_date"]
    else:
        fields, keys = schema.LABEL_FIELDS, ["generation_id", "category"]
        non_negative, defaults = [], {}
        extra = validate.label_range_rules()
        bronze_schema, partition_by = schema.BRONZE_LABEL_SCHEMA, None

    bronze_path = warehouse.table_path(wh, f"bronze/{kind}")
    quarantine_path = warehouse.table_path(wh, f"quarantine/{kind}")
    input_format = cfg.get("input_format", "auto") if kind == "events" else "gateway"
    listed = warehouse.list_input_files(spark, path, f"--{kind}")
    seen = set() if cfg.get("ingest", {}).get("reread_files") else ingested_before(spark, wh, kind, listed)
    new = {fmt: [f for f in found if f not in seen] for fmt, found in listed.items()}
    raw, input_format, read_as = read_raw(spark, path, fields, f"--{kind}", input_format, cfg, new)
    if raw is None:
        return Accounting(kind, input_format=input_format, files=read_as, unchanged_files=len(seen))
    warehouse.ensure_table(spark, bronze_path, bronze_schema, partition_by, tables.table_properties(f"bronze/{kind}"))
    warehouse.ensure_table(spark, quarantine_path, schema.QUARANTINE_SCHEMA)
    broadcast_rows = int(cfg.get("ingest", {}).get("broadcast_duplicate_keys", 2_000_000))
    attempts = warehouse.max_attempts(cfg)
    for attempt in range(1, attempts + 1):
        # Deduplicate against bronze as it is now; the MERGE below fails if another run
        # adds to the same days before this one commits, and the loop starts over.
        existing = spark.read.format("delta").load(bronze_path)
        # A request's day is part of its identity in bronze (the MERGE below matches on
        # it too): a repeat is looked for in the days the batch adds to.
        day = ("event_date", enrich.event_date(F.col("created_at"))) if partition_by else None
        classified, caches = classify(raw, fields, non_negative, keys, existing, extra, defaults, broadcast_rows, day)
        classified = classified.withColumn("ingest_run_id", F.lit(run_id))
        if kind == "events":
            classified = classified.withColumn(*day)
        acc = count_outcomes(classified, kind)
        acc.input_format, acc.files, acc.attempts = input_format, read_as, attempt
        try:
            if attempt == 1 and acc.quarantined:
                # Rejections do not depend on bronze: written once, before the bronze commit
                # (whose MERGE invalidates the cached duplicate flags, which read bronze).
                warehouse.append(
                    classified.filter(F.col("outcome") == "quarantine").select(
                        *schema.QUARANTINE_SCHEMA.fieldNames()),
                    quarantine_path,
                )
            if acc.added:
                added = classified.filter(F.col("outcome") == "bronze").select(*bronze_schema.fieldNames())
                days = {"event_date": sorted(acc.days)} if partition_by else None
                inserted = warehouse.insert_new(spark, added, bronze_path, keys, days)
                # Rows another run committed after this run's read of bronze are
                # duplicates now: the MERGE found them there and did not insert them.
                if inserted < acc.added:
                    acc.duplicates += acc.added - inserted
                    acc.added = inserted
                    if kind == "events":  # of the rows this run did insert (a rare path: one filtered count)
                        acc.no_account = (
                            spark.read.format("delta").load(bronze_path)
                            .filter(F.col("event_date").isin(sorted(acc.days)) & (F.col("ingest_run_id") == run_id)
                                    & F.col("account_id").isNull()).count()
                        )
            break
        except Exception as exc:
            if not warehouse.is_conflict(exc):
                raise
            if attempt == attempts:
                raise PipelineError(
                    f"bronze/{kind}: another run added rows to the same days before this one could commit, "
                    f"{attempts} times; this run added nothing: run it again") from exc
            print(f"ingest {kind}: another run wrote bronze/{kind} first; re-reading it "
                  f"(attempt {attempt + 1} of {attempts})", flush=True)
            warehouse.backoff(attempt)
        finally:
            for cached in caches:
                cached.unpersist()
    acc.unchanged_files, acc.files_read = len(seen), [f for found in new.values() for f in found]
    return acc


def ingested_before(spark: SparkSession, wh: str, kind: str,
                    listed: dict[str, list[warehouse.InputFile]]) -> set[warehouse.InputFile]:
    """The listed files that an earlier run read (ops/ingest_runs.files_read) and that
    have not changed since (same path, size and modification time)."""
    path = warehouse.table_path(wh, "ops/ingest_runs")
    files = {f for found in listed.values() for f in found}
    if not files or not warehouse.delta_exists(spark, path):
        return set()
    runs = spark.read.format("delta").load(path)
    if "files_read" not in runs.columns:  # written before the column existed
        return set()
    rows = (
        runs.filter(F.col("kind") == kind).select(F.explode("files_read").alias("f")).select("f.*")
        .filter(F.col("path").isin(sorted({f.path for f in files})))
        .distinct().collect()  # at most one row per listed file version
    )
    return files & {warehouse.InputFile(r["path"], r["size"], r["modified_ms"]) for r in rows}


def record_run(spark: SparkSession, wh: str, run_id: str, path: str, acc: Accounting,
               started: dt.datetime) -> None:
    """Append the run's accounting to ops/ingest_runs."""
    row = (run_id, acc.kind, path, started, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
           acc.read, acc.added, acc.quarantined, acc.duplicates, acc.skipped, acc.input_format, acc.reasons,
           acc.no_account if acc.kind == "events" else None, acc.files, acc.attempts, acc.unchanged_files,
           [(f.path, f.size, f.modified_ms) for f in acc.files_read])
    path = warehouse.table_path(wh, "ops/ingest_runs")
    warehouse.ensure_table(spark, path, RUNS_SCHEMA)
    warehouse.append(local_frame(spark, [row], RUNS_SCHEMA), path)


def run(spark: SparkSession, cfg: dict) -> dict[str, Accounting]:
    """Ingest cfg['inputs']['events'] (and ['labels'] when given) into cfg['warehouse']."""
    wh, inputs = cfg["warehouse"], cfg["inputs"]
    run_id = cfg.get("run_id") or warehouse.new_run_id()
    results = {}
    with sql_settings(spark, cfg.get("ingest", {}).get("sql_conf")):
        for kind in ("events", "labels"):
            if not inputs.get(kind):
                continue
            started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            acc = ingest_one(spark, cfg, kind, inputs[kind], wh, run_id)
            record_run(spark, wh, run_id, inputs[kind], acc, started)
            print(acc.line(), flush=True)
            results[kind] = acc
    return results


def add_arguments(parser) -> None:
    """The ingest flags (shared with jobs.pipeline)."""
    parser.add_argument("--events", required=True, help="events: a file, folder or glob")
    parser.add_argument("--labels", help="labels: a file, folder or glob")
    parser.add_argument("--warehouse", required=True, help="warehouse folder (Delta tables)")
    parser.add_argument("--reread-files", action="store_true",
                        help="read every input file, also those an earlier run took in unchanged "
                             "(bronze still drops the requests it holds)")
    parser.add_argument("--format", dest="input_format", choices=FORMATS, default="auto",
                        help="events format: the contract's own (gateway), OpenRouter generation metadata, "
                             "OpenTelemetry GenAI spans (OTLP/JSON), LiteLLM spend logs; auto detects it")


def config_from_args(args) -> dict:
    """Load the conf and put the run's inputs into it, checking local paths before Spark starts."""
    warehouse.check_input_exists(args.events, "--events")
    if args.labels:
        warehouse.check_input_exists(args.labels, "--labels")
    cfg = load_conf(args.conf, spark_overrides(args))
    cfg["warehouse"] = args.warehouse
    cfg["inputs"] = {"events": args.events, "labels": args.labels}
    cfg["input_format"] = getattr(args, "input_format", "auto")
    if getattr(args, "reread_files", False):
        cfg.setdefault("ingest", {})["reread_files"] = True
    return cfg


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = base_parser("jobs.ingest", "Ingest raw events and labels into bronze.")
    add_arguments(parser)
    args = parse(parser, argv)

    def body():
        cfg = config_from_args(args)
        run(build_session(cfg, "state-of-ai ingest"), cfg)

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
