"""Stage 2: bronze -> silver/events, one enriched row per request.

    python -m jobs.enrich --warehouse DIR [--models CSV] [--since YYYY-MM-DD] [--full]

Incremental: only the `event_date` partitions that bronze changed since the last
run (new or late events, or new labels for old events, read from bronze's change
data feed) are re-derived, each replaced atomically with `replaceWhere`. The first
run, `--full`, or a missing state rebuilds everything. Running twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import os

from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common import reference, warehouse
from jobs.common.cli import (
    PipelineError,
    base_parser,
    date_flag,
    exit_with,
    load_conf,
    parse,
    run_cli,
    spark_overrides,
)
from jobs.common.session import build_session, local_frame
from transforms import enrich, tables

STATE_SCHEMA = T.StructType([
    T.StructField("enrich_run_id", T.StringType(), False),
    T.StructField("finished_at", T.TimestampType(), False),
    T.StructField("bronze_events_version", T.LongType(), False),
    T.StructField("bronze_labels_version", T.LongType(), False),
    T.StructField("dates_processed", T.LongType(), False),
    T.StructField("rows_written", T.LongType(), False),
])


def account_key(cfg: dict) -> bytes:
    """The pseudonymisation key: from the environment variable the conf names, else its local_key."""
    privacy = cfg.get("privacy", {})
    env = privacy.get("account_key_env", "STATE_OF_AI_ACCOUNT_KEY")
    key = os.environ.get(env)
    if not key:
        key = privacy.get("local_key")
        if not key:
            raise PipelineError(f"set {env}: the secret key that pseudonymises account ids is required")
        print(f"enrich: warning: {env} is not set; account ids are pseudonymised with privacy.local_key, "
              "a public development key: set it before sharing silver or gold", flush=True)
    return key.encode("utf-8")


def last_state(spark: SparkSession, wh: str):
    """The newest row of ops/enrich_state, or None."""
    path = warehouse.table_path(wh, "ops/enrich_state")
    if not warehouse.delta_exists(spark, path):
        return None
    return spark.read.format("delta").load(path).orderBy(F.col("finished_at").desc()).first()


def changes_since(spark: SparkSession, path: str, after_version: int, until_version: int) -> DataFrame:
    """Rows inserted into a Delta table in versions (after_version, until_version], from its change feed."""
    return warehouse.change_feed(spark, path, after_version, until_version).filter(F.col("_change_type") == "insert")


def changed_dates(spark, wh, state, events_v, labels_v, events_df) -> list[dt.date]:
    """Event dates whose silver rows must be re-derived since the state's bronze versions."""
    parts = []
    if events_v > state["bronze_events_version"]:
        ev_path = warehouse.table_path(wh, "bronze/events")
        parts.append(changes_since(spark, ev_path, state["bronze_events_version"], events_v).select("event_date"))
    if labels_v > state["bronze_labels_version"]:
        lab_path = warehouse.table_path(wh, "bronze/labels")
        new_labels = (
            changes_since(spark, lab_path, state["bronze_labels_version"], labels_v)
            if state["bronze_labels_version"] >= 0
            else spark.read.format("delta").option("versionAsOf", labels_v).load(lab_path)
        )
        labelled = events_df.join(
            F.broadcast(new_labels.select("generation_id").distinct()), on="generation_id", how="inner"
        )
        parts.append(labelled.select("event_date"))
    dates: set[dt.date] = set()
    for part in parts:
        dates.update(r["event_date"] for r in part.distinct().collect())  # one row per day
    return sorted(d for d in dates if d is not None)


def dates_from_change_feed(spark, wh, state, events_v, labels_v, events_df) -> list[dt.date] | None:
    """changed_dates, or None (a full rebuild, said on the console) when bronze's change feed
    since the last run cannot be read: vacuumed, its log cleaned up, or never recorded."""
    try:
        return changed_dates(spark, wh, state, events_v, labels_v, events_df)
    except warehouse.feed_gone_errors() as exc:
        print(f"enrich: bronze's change feed since the last run (events version {state['bronze_events_version']}, "
              f"labels version {state['bronze_labels_version']}) cannot be read ({type(exc).__name__}); "
              "rebuilding all of silver instead", flush=True)
        return None


def run(spark: SparkSession, cfg: dict) -> dict:
    """Enrich the bronze tables of cfg['warehouse'] into silver/events; return a summary.

    When another run commits to silver first, or bronze moves while this run reads it,
    start over: the next try reads bronze and ops/enrich_state again (write.max_attempts
    tries)."""
    wh = cfg["warehouse"]

    def attempt(_: int) -> dict:
        result = run_once(spark, cfg)
        # Ended only when bronze has not moved since it was read: another run's silver,
        # committed after this one, could otherwise be the older one.
        warehouse.check_unmoved(spark, warehouse.table_path(wh, "bronze/events"), result["bronze_events_version"],
                                "bronze/events")
        warehouse.check_unmoved(spark, warehouse.table_path(wh, "bronze/labels"), result["bronze_labels_version"],
                                "bronze/labels")
        return result

    return warehouse.with_conflict_retries("enrich", warehouse.max_attempts(cfg), attempt)


def run_once(spark: SparkSession, cfg: dict) -> dict:
    """One try of run."""
    wh = cfg["warehouse"]
    key = account_key(cfg)  # first: a run without its key stops before any work
    silver_path = warehouse.table_path(wh, "silver/events")
    events, labels, events_v, labels_v = read_bronze(spark, wh)
    scope = rewrite_scope(spark, cfg, wh, events, events_v, labels_v)
    if scope is NOTHING:
        print("enrich: bronze unchanged since the last run; nothing to do", flush=True)
        return {"dates": 0, "rows": 0, "bronze_events_version": events_v, "bronze_labels_version": labels_v}
    dates, replace_where = scope
    if dates is not None:
        events = events.filter(dates)
    # Calls that are not completions (embeddings, images, ...) stay in bronze only;
    # counted on the way through, so no extra pass over bronze.
    left_out = Observation("enrich-non-completions")
    has_call_type = "call_type" in events.columns  # bronze written before call_type existed has none
    if has_call_type:
        events = (
            events.observe(left_out, F.sum(F.when(~enrich.is_completion(F.col("call_type")), 1).otherwise(0))
                           .alias("rows"))
            .filter(enrich.is_completion(F.col("call_type")))
        )
    observed = write_silver(spark, cfg, events, labels, key, silver_path, replace_where)
    non_completions = int(left_out.get["rows"] or 0) if has_call_type else 0
    rows, n_dates = int(observed["rows"]), int(observed["dates"])
    unknown = unknown_models(spark, silver_path, dates) if observed["unknown_rows"] else []
    warehouse.append(
        local_frame(spark, [(cfg.get("run_id") or warehouse.new_run_id(),
                             dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), events_v, labels_v, n_dates, rows)],
                    STATE_SCHEMA),
        warehouse.table_path(wh, "ops/enrich_state"),
    )
    print(f"enrich: {'full rebuild' if dates is None else 'incremental'}, dates={n_dates} rows={rows}", flush=True)
    if non_completions:
        print(f"enrich: {non_completions} calls that are not completions (embeddings, images, audio, ...) "
              "left out of silver; they stay in bronze/events with their call_type", flush=True)
    if unknown:
        listed = ", ".join(f"{r['model_variant']} ({r['count']})" for r in unknown)
        print(f"enrich: {sum(r['count'] for r in unknown)} rows of models missing from the catalog: {listed}",
              flush=True)
    return {"dates": n_dates, "rows": rows, "non_completions": non_completions,
            "bronze_events_version": events_v, "bronze_labels_version": labels_v,
            "unknown_models": {r["model_variant"]: r["count"] for r in unknown}}


def read_bronze(spark: SparkSession, wh: str) -> tuple[DataFrame, DataFrame, int, int]:
    """Bronze's events and labels at their latest versions, and those versions (-1: no labels table)."""
    ev_path = warehouse.table_path(wh, "bronze/events")
    lab_path = warehouse.table_path(wh, "bronze/labels")
    events_v = warehouse.latest_version(spark, ev_path)
    if events_v < 0:
        raise PipelineError(f"no bronze/events table under {wh}: run jobs.ingest first")
    labels_v = warehouse.latest_version(spark, lab_path)
    events = spark.read.format("delta").option("versionAsOf", events_v).load(ev_path)
    if labels_v >= 0:
        labels = spark.read.format("delta").option("versionAsOf", labels_v).load(lab_path)
    else:
        labels = local_frame(spark, [], "generation_id string, category string, confidence double")
    return events, labels, events_v, labels_v


NOTHING = "nothing to do"


def rewrite_scope(spark: SparkSession, cfg: dict, wh: str, events: DataFrame, events_v: int, labels_v: int):
    """Which event_date partitions of silver this run rewrites: (a filter on bronze's rows,
    silver's replaceWhere), both None for all of silver; NOTHING when bronze has not
    changed since the last run. A predicate, so no extra pass over bronze."""
    since = cfg.get("enrich", {}).get("since")
    if since:
        day = dt.date.fromisoformat(str(since))
        return F.col("event_date") >= F.lit(day), f"event_date >= {warehouse.sql_dates([day])}"
    state = last_state(spark, wh)
    full = (cfg.get("enrich", {}).get("full") or state is None
            or not warehouse.delta_exists(spark, warehouse.table_path(wh, "silver/events")))
    dates = None if full else dates_from_change_feed(spark, wh, state, events_v, labels_v, events)
    if dates is None:
        return None, None
    if not dates:
        return NOTHING
    return F.col("event_date").isin(dates), f"event_date IN ({warehouse.sql_dates(dates)})"


def write_silver(spark: SparkSession, cfg: dict, events: DataFrame, labels: DataFrame, key: bytes,
                 silver_path: str, replace_where: str | None) -> dict:
    """Enrich the events and write them to silver (all of it, or the replaceWhere days);
    return the figures observed during the write: rows, unknown_rows, dates."""
    threshold = float(cfg.get("enrich", {}).get("label_confidence_threshold", 0.5))
    chosen = enrich.chosen_labels(labels, reference.load_taxonomy(spark), threshold)
    # Labels are a small sample of requests: when there are few enough of them (a count
    # Delta answers from its metadata), they are broadcast and the events never shuffled.
    broadcast_labels = labels.count() <= int(cfg.get("enrich", {}).get("broadcast_labels", 2_000_000))
    silver = enrich.silver_events(
        events, chosen, reference.load_models(spark, cfg.get("models")), reference.load_regions(spark),
        key, reference.load_aliases(spark, cfg.get("models")), broadcast_labels,
    )
    # The run's figures are observed while the write runs: no second pass over the rows.
    observed = Observation("enrich")
    silver = silver.observe(
        observed,
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.when(~F.col("in_catalog"), 1).otherwise(0)).alias("unknown_rows"),
        F.size(F.collect_set("event_date")).alias("dates"),  # one value per day
    )
    # Bronze holds each day in its own files, and with the labels broadcast every task
    # keeps the rows of the files it read: the days stay apart with no shuffle, as many
    # files per day as bronze has. A shuffle join on generation_id mixes the days, and
    # then one shuffle on event_date makes a few files per day instead of one per day and task.
    if not broadcast_labels:
        silver = warehouse.by_day(silver, warehouse.files_per_day(cfg))
    warehouse.overwrite(silver, silver_path, ["event_date"], replace_where=replace_where,
                        properties=tables.table_properties("silver/events"))
    return observed.get


def unknown_models(spark: SparkSession, silver_path: str, dates: Column | None) -> list:
    """The 20 commonest models missing from the catalog among the rows just written: a
    second read of them, made only when there are some (in_catalog, a boolean, has no
    min/max statistics in Delta, so no file is skipped)."""
    written = spark.read.format("delta").load(silver_path).filter(~F.col("in_catalog"))
    if dates is not None:
        written = written.filter(dates)
    return written.groupBy("model_variant").count().orderBy(F.col("count").desc()).limit(20).collect()


def add_arguments(parser) -> None:
    """The enrich flags (shared with jobs.pipeline)."""
    parser.add_argument("--models", help="model catalog CSV (default conf/models.csv)")
    parser.add_argument("--since", help="re-derive every event date from this one (YYYY-MM-DD)")
    parser.add_argument("--full", action="store_true", help="rebuild all of silver")


def apply_arguments(cfg: dict, args) -> dict:
    """Put the enrich flags into the conf."""
    date_flag(args.since, "--since")
    if args.models and not os.path.isfile(args.models):
        raise PipelineError(f"--models: no such file: {args.models}")
    cfg["models"] = args.models
    cfg.setdefault("enrich", {}).update({"since": args.since, "full": args.full})
    if args.full:  # jobs.pipeline --full: summarize re-derives every week too
        cfg.setdefault("summarize", {})["full"] = True
    return cfg


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = base_parser("jobs.enrich", "Enrich bronze events into silver.")
    parser.add_argument("--warehouse", required=True, help="warehouse folder (Delta tables)")
    add_arguments(parser)
    args = parse(parser, argv)

    def body():
        cfg = apply_arguments(load_conf(args.conf, spark_overrides(args)), args)
        cfg["warehouse"] = args.warehouse
        run(build_session(cfg, "state-of-ai enrich"), cfg)

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
