"""Stage 3: silver/events -> gold summary tables.

    python -m jobs.summarize --warehouse DIR [--conf FILE]

Silver is read once: `transforms.shares.compact_aggregate` turns it into three
small grouping sets in a single scan and shuffle, written to silver/weekly_aggregate;
that table is read back at the version this run committed, cached, and every gold
table is derived from it. Each gold table is replaced atomically (one
Delta overwrite commit), so a reader sees the old table or the new one, never a mix.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.common import warehouse
from jobs.common.cli import (
    PipelineError,
    base_parser,
    exit_with,
    load_conf,
    parse,
    run_cli,
    spark_overrides,
)
from jobs.common.session import build_session, local_frame, physical_plan, sql_settings
from transforms import cohorts, economics, enrich, shares, signals
from transforms.tables import GOLD_TABLES, table_properties

RUNS_SCHEMA = T.StructType([
    T.StructField("summarize_run_id", T.StringType(), False),
    T.StructField("finished_at", T.TimestampType(), False),
    T.StructField("silver_version", T.LongType(), False),
    T.StructField("silver_scans", T.IntegerType(), False),
    T.StructField("aggregate_rows", T.LongType(), False),
    T.StructField("tables_written", T.IntegerType(), False),
    T.StructField("seconds", T.DoubleType(), False),
    T.StructField("gold_settings", T.StringType(), True),
])


# The compact aggregate of silver (see transforms.shares), kept per week (the cube and
# the prompt histogram) and per month (the activity) so a run re-derives only the
# periods whose silver rows changed. Keyed by account_key (the pseudonym) like silver
# itself: it is not a gold table and is never published.
AGGREGATE = "silver/weekly_aggregate"
AGGREGATE_PARTITIONS = ["grouping_set", "period"]


def with_period(agg: DataFrame) -> DataFrame:
    """Add `period`, the aggregate's partition: the month of an activity row, the week of any other."""
    return agg.withColumn("period", F.when(F.col("grouping_set") == shares.ACTIVITY, F.col("month"))
                          .otherwise(F.col("week_start")))


def months_of(weeks: list[dt.date]) -> list[dt.date]:
    """The first days of the months the days of these weeks fall in."""
    return sorted({day.replace(day=1) for w in weeks for day in (w, w + dt.timedelta(days=6))})


def silver_scans(df: DataFrame) -> int:
    """How many times the physical plan of df scans silver's files."""
    plan = physical_plan(df)
    return len(re.findall(r"FileScan parquet|(?<!File)Scan parquet", plan))


def cached_sets(spark: SparkSession, agg: DataFrame) -> DataFrame:
    """The aggregate with its two small grouping sets (the cube and the prompt histogram)
    cached apart, in as many partitions as the cluster has cores: every gold table then
    reads only its set's rows, not the whole aggregate in every shuffle partition. The
    activity set (by far the largest) stays in the aggregate's own cache."""
    # The application's cores: SparkContext's public defaultParallelism.
    cores = spark.sparkContext.defaultParallelism
    small = [shares.grouping_set(agg, s).coalesce(cores).persist(StorageLevel.MEMORY_AND_DISK)
             for s in (shares.CUBE, shares.PROMPT_HIST)]
    for part in small:
        part.count()
    return small[0].unionByName(small[1]).unionByName(shares.grouping_set(agg, shares.ACTIVITY))


def share_tables(agg: DataFrame) -> dict[str, DataFrame]:
    """Every share table of CONTRACT 3.2 (other than cohorts and cost), from the compact aggregate."""
    cube, activity, hist = (shares.grouping_set(agg, s) for s in (shares.CUBE, shares.ACTIVITY, shares.PROMPT_HIST))
    oss_models = shares.weekly_oss_model_share(cube)
    return {
        "weekly_segment_share": shares.weekly_segment_share(cube),
        "weekly_oss_model_share": oss_models,
        "weekly_oss_concentration": shares.weekly_oss_concentration(oss_models),
        "weekly_size_share": shares.weekly_size_share(cube),
        "weekly_category_share": shares.weekly_category_share(cube),
        "category_segment_mix": shares.category_segment_mix(cube),
        "weekly_category_segment_share": shares.weekly_category_segment_share(cube),
        "subcategory_share": shares.subcategory_share(cube),
        "weekly_author_programming_share": shares.weekly_author_programming_share(cube),
        "author_category_mix": shares.author_category_mix(cube),
        "weekly_reasoning_share": shares.weekly_reasoning_share(cube),
        "weekly_tool_call_share": shares.weekly_tool_call_share(cube, activity),
        "weekly_sequence_length": shares.weekly_sequence_length(cube, hist),
        "weekly_region_share": shares.weekly_region_share(cube),
        "language_share": shares.language_share(cube),
    }


def cohort_tables(spark: SparkSession, cfg: dict, agg: DataFrame, last_date: dt.date) -> dict[str, DataFrame]:
    """Retention matrices by model and by author, and their signals (levels from conf)."""
    k_min = int(cfg.get("privacy", {}).get("k_min", 10))
    end = cohorts.data_end_month(last_date)
    # One row per (account, model, month) with activity: all the matrices need.
    activity = shares.grouping_set(agg, shares.ACTIVITY).select("account_key", "model", "author", "month").cache()
    # The cells feed the matrices and the signals, the matrices the signals and their gold
    # tables. Cached, and filled here by the signals' queries, before the gold tables are
    # written from several threads: otherwise each thread would compute them anew.
    model_cells = cohorts.retention_cells(activity, "model", end).cache()
    author_cells = cohorts.retention_cells(activity, "author", end).cache()
    by_model = cohorts.cohort_retention(activity, "model", end, k_min, cells=model_cells).cache()
    by_author = cohorts.author_cohort_retention(activity, end, k_min, model_cells=model_cells,
                                                author_cells=author_cells).cache()
    return {
        "cohort_retention": by_model,
        "cohort_retention_author": by_author,
        "cohort_signals": cohort_signals(spark, cfg, model_cells, by_model, "model"),
        "cohort_signals_author": cohort_signals(spark, cfg, author_cells, by_author, "author"),
    }


def cohort_signals(spark: SparkSession, cfg: dict, cells: DataFrame, published: DataFrame, key: str) -> DataFrame:
    """The key's signals (transforms.signals), tested on the driver: their inputs come from
    the matrix's cells, one row per cell (a few thousand at most), collected once."""
    c = cfg.get("cohorts", {})
    matrix = cohorts.signal_inputs(cells, published, key).toPandas()
    pairs = cohorts.boomerang_pairs(matrix, key)
    candidates = cohorts.foundational_candidates(matrix, key, int(c.get("horizon_months", 5)),
                                                 int(c.get("min_later_cohorts", 2)))
    table = signals.evaluate(
        pairs, candidates, key, fdr_level=float(c.get("fdr_level", 0.05)), min_rise=float(c.get("min_rise", 0.03)),
        min_level=float(c.get("min_level", 0.3)), lift=float(c.get("lift", 1.5)),
        k_min=int(cfg.get("privacy", {}).get("k_min", 10)),
    )
    name = "cohort_signals" if key == "model" else f"cohort_signals_{key}"
    print(f"summarize: {name}: {len(pairs) + len(candidates)} cells tested, {int(table['passes'].sum())} signal(s) "
          f"pass at q <= {c.get('fdr_level', 0.05)}")
    return local_frame(spark, signals.records(table), signals.schema(key))


def economics_tables(spark: SparkSession, cfg: dict, agg: DataFrame) -> dict[str, DataFrame]:
    """Cost versus usage by category and model, and the elasticity fits."""
    e = cfg.get("economics", {})
    cube = shares.grouping_set(agg, shares.CUBE)
    models = economics.model_cost_usage(cube, e.get("model_cost_threshold"), e.get("model_usage_threshold"))
    # Both inputs of the fits are small (one row per model, per model-week).
    models_pdf = models.select("model", "segment", "tokens", "cost_per_mtok").toPandas()
    min_requests = int(e.get("min_panel_requests", economics.MIN_PANEL_REQUESTS))
    panel_pdf = economics.model_week_panel(cube, min_requests).select("model", "week_start", "segment", "tokens",
                                                                      "cost_per_mtok").toPandas()
    return {
        "category_cost_usage": economics.category_cost_usage(cube, e.get("category_cost_threshold"),
                                                             e.get("category_usage_threshold")),
        "model_cost_usage": models,
        "price_elasticity": local_frame(spark, economics.elasticity_rows(models_pdf, panel_pdf, min_requests),
                                                   economics.ELASTICITY_SCHEMA),
    }


def gold_table_names() -> list[str]:
    """Every gold table this stage writes (transforms.tables.GOLD_TABLES)."""
    return list(GOLD_TABLES)


def gold_tables(spark: SparkSession, cfg: dict, agg: DataFrame, last_date: dt.date) -> dict[str, DataFrame]:
    """All gold tables derived from the aggregate."""
    tables = {**share_tables(agg), **cohort_tables(spark, cfg, agg, last_date), **economics_tables(spark, cfg, agg)}
    assert sorted(tables) == sorted(gold_table_names()), "gold_table_names is out of date"
    return tables


def last_run(spark: SparkSession, wh: str):
    """The newest completed summarize run of ops/summarize_runs (a row is appended only after
    every gold table has committed), or None."""
    path = warehouse.table_path(wh, "ops/summarize_runs")
    if not warehouse.delta_exists(spark, path):
        return None
    return spark.read.format("delta").load(path).orderBy(F.col("finished_at").desc()).first()


def gold_settings(cfg: dict) -> str:
    """The settings gold depends on besides silver (thresholds, k_min), as canonical JSON."""
    return json.dumps({"cohorts": cfg.get("cohorts", {}), "economics": cfg.get("economics", {}),
                       "k_min": cfg.get("privacy", {}).get("k_min", 10)}, sort_keys=True, default=str)


def gold_is_current(spark: SparkSession, cfg: dict, wh: str, version: int, last) -> bool:
    """True when the last completed run (`last`, a row of ops/summarize_runs) derived gold
    from this silver version with these settings, and every gold table is there: a run
    then has nothing to do."""
    return last is not None and last["silver_version"] == version and gold_complete(spark, cfg, wh, last)


def gold_complete(spark: SparkSession, cfg: dict, wh: str, last) -> bool:
    """True when the last completed run derived gold with these settings and every gold
    table is there (whatever silver version it read)."""
    if cfg.get("summarize", {}).get("full") or last is None:
        return False
    if last.asDict().get("gold_settings") != gold_settings(cfg):  # also a row from before the column
        return False
    return all(warehouse.delta_exists(spark, warehouse.table_path(wh, f"gold/{name}")) for name in gold_table_names())


def changed_weeks(spark: SparkSession, silver_path: str, after_version: int, until_version: int) -> list | None:
    """The weeks whose silver rows changed in versions (after_version, until_version], from
    silver's change feed (event_date only: a partition column, so no data is read);
    None when the feed cannot tell (cleaned up, or not enabled)."""
    if until_version <= after_version:
        return []
    try:
        rows = (
            warehouse.change_feed(spark, silver_path, after_version, until_version)
            .select(enrich.week_start(F.col("event_date")).alias("week_start"))
            .distinct().collect()  # one row per week
        )
    except warehouse.feed_gone_errors():
        return None
    return sorted(r["week_start"] for r in rows if r["week_start"] is not None)


def refresh_aggregate(spark: SparkSession, cfg: dict, wh: str, silver_path: str, version: int,
                      previous: int | None) -> tuple[int, str, int | None]:
    """Bring silver/weekly_aggregate from `previous` (the silver version of the last run) up
    to `version`; return (silver scans, weeks re-derived, the aggregate's version this run
    committed, or None when it committed none).

    The cube and the prompt histogram are keyed by week and the activity by month, so
    a period's rows depend only on that period's silver rows: a run re-derives the
    weeks whose silver changed since the last summarize (late rows, new days) and the
    months those weeks touch, reading only their days, and keeps every other period.
    """
    agg_path = warehouse.table_path(wh, AGGREGATE)
    full = (bool(cfg.get("summarize", {}).get("full")) or previous is None
            or not warehouse.delta_exists(spark, agg_path)
            or "period" not in spark.read.format("delta").load(agg_path).columns)  # written by an older layout
    weeks = None if full else changed_weeks(spark, silver_path, previous, version)
    silver = spark.read.format("delta").option("versionAsOf", version).load(silver_path)
    tag = f"summarize {warehouse.new_run_id()}"
    if weeks is None:
        # Rows of a period together: one file per period in the table, not one per period and task.
        fresh = with_period(shares.compact_aggregate(silver)).repartition(*AGGREGATE_PARTITIONS)
        scans = silver_scans(fresh)
        warehouse.overwrite(fresh, agg_path, AGGREGATE_PARTITIONS, tag=tag, properties=table_properties(AGGREGATE))
        return scans, "all", warehouse.committed_version(spark, agg_path, tag)
    if not weeks:
        return 0, "none", None
    months = months_of(weeks)
    day = F.col("event_date")
    # Predicates on the partition column only: Spark reads just those days.
    scope = enrich.week_start(day).isin(weeks) | F.trunc(day, "month").isin(months)
    is_activity = F.col("grouping_set") == shares.ACTIVITY
    fresh = (
        with_period(shares.compact_aggregate(silver.filter(scope)))
        .filter((~is_activity & F.col("period").isin(weeks)) | (is_activity & F.col("period").isin(months)))
        .repartition(*AGGREGATE_PARTITIONS)
    )
    scans = silver_scans(fresh)
    replace = (f"(grouping_set <> {shares.ACTIVITY} AND period IN ({warehouse.sql_dates(weeks)})) OR "
               f"(grouping_set = {shares.ACTIVITY} AND period IN ({warehouse.sql_dates(months)}))")
    warehouse.overwrite(fresh, agg_path, replace_where=replace, tag=tag)
    return scans, str(len(weeks)), warehouse.committed_version(spark, agg_path, tag)


def record_run(spark: SparkSession, cfg: dict, wh: str, version: int, scans: int, n_rows: int, tables: int,
               seconds: float) -> None:
    """Append a completed run to ops/summarize_runs (after every gold table has committed)."""
    warehouse.append(
        local_frame(spark, [(cfg.get("run_id") or warehouse.new_run_id(),
                             dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), version, scans, n_rows, tables,
                             seconds, gold_settings(cfg))],
                    RUNS_SCHEMA),
        warehouse.table_path(wh, "ops/summarize_runs"),
        merge_schema=True,  # gold_settings joined the table later
    )


def run(spark: SparkSession, cfg: dict) -> dict:
    """Write every gold table of cfg['warehouse'] from its silver table.

    When another run commits to the aggregate or a gold table first, or silver moves
    while this run reads it, start over with every week re-derived (write.max_attempts
    tries): gold tables this try had already written may come from an older silver
    version than the winner's, and a full re-derivation leaves every table from one
    version.
    """
    def attempt(n: int) -> dict:
        try_cfg = cfg if n == 1 else {**cfg, "summarize": {**cfg.get("summarize", {}), "full": True}}
        result = run_once(spark, try_cfg)
        # Ended only when silver has not moved since it was read (see enrich.run).
        warehouse.check_unmoved(spark, warehouse.table_path(cfg["warehouse"], "silver/events"),
                                result["silver_version"], "silver/events")
        return result

    return warehouse.with_conflict_retries("summarize", warehouse.max_attempts(cfg), attempt)


def run_once(spark: SparkSession, cfg: dict) -> dict:
    """One try of run."""
    started = time.perf_counter()
    wh = cfg["warehouse"]
    silver_path = warehouse.table_path(wh, "silver/events")
    if not warehouse.delta_exists(spark, silver_path):
        raise PipelineError(f"no silver/events table under {wh}: run jobs.enrich first")
    version = warehouse.latest_version(spark, silver_path)
    last = last_run(spark, wh)  # read once: the no-op check and the weeks to re-derive
    if gold_is_current(spark, cfg, wh, version, last):
        print(f"summarize: silver unchanged since the last run (version {version}); gold kept", flush=True)
        return {"tables": [], "aggregate_rows": 0, "silver_scans": 0, "seconds": time.perf_counter() - started,
                "weeks_rederived": "none", "silver_version": version}
    previous = None if last is None else last["silver_version"]
    scans, weeks, agg_version = refresh_aggregate(spark, cfg, wh, silver_path, version, previous)
    if weeks == "none" and gold_complete(spark, cfg, wh, last):
        # New silver versions without new rows (a compaction): gold stays; the run is
        # recorded so the next one starts from this version.
        record_run(spark, cfg, wh, version, 0, 0, 0, time.perf_counter() - started)
        print(f"summarize: silver versions {previous + 1}..{version} changed no rows; gold kept", flush=True)
        return {"tables": [], "aggregate_rows": 0, "silver_scans": 0, "seconds": time.perf_counter() - started,
                "weeks_rederived": weeks, "silver_version": version}
    # Gold is derived from the aggregate as this run committed it (another run may have
    # committed since), read back rather than kept from the write: a plan of one Delta
    # scan instead of silver's whole lineage, which each of the few hundred queries
    # below would otherwise analyse and match against the cache again.
    reader = spark.read.format("delta")
    if agg_version is not None:
        reader = reader.option("versionAsOf", agg_version)
    agg = reader.load(warehouse.table_path(wh, AGGREGATE)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_rows, last_date = agg.agg(F.count(F.lit(1)), F.max("last_date")).first()
        if last_date is None:
            raise PipelineError(f"silver/events under {wh} is empty: nothing to summarize")
        # From here on, a few hundred small queries over the cached aggregate: under the
        # conf's summarize.gold_conf (restored after).
        with sql_settings(spark, cfg.get("summarize", {}).get("gold_conf")):
            tables = gold_tables(spark, cfg, cached_sets(spark, agg), last_date)
            # The tables are small and independent: write them from a few threads, so the
            # per-commit overhead of Delta overlaps instead of adding up.
            with ThreadPoolExecutor(max_workers=int(cfg.get("summarize", {}).get("write_threads", 4))) as pool:
                futures = [pool.submit(warehouse.overwrite, df.coalesce(1), warehouse.table_path(wh, f"gold/{name}"))
                           for name, df in tables.items()]
                for future in futures:
                    future.result()
    finally:
        spark.catalog.clearCache()  # the aggregate and the retention matrices
    seconds = time.perf_counter() - started
    record_run(spark, cfg, wh, version, scans, n_rows, len(tables), seconds)
    print(f"summarize: {len(tables)} gold tables from {n_rows} aggregate rows; silver scanned {scans} time(s); "
          f"weeks re-derived: {weeks}", flush=True)
    return {"tables": sorted(tables), "aggregate_rows": n_rows, "silver_scans": scans, "seconds": seconds,
            "weeks_rederived": weeks, "silver_version": version}


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = base_parser("jobs.summarize", "Derive the gold tables from silver.")
    parser.add_argument("--warehouse", required=True, help="warehouse folder (Delta tables)")
    parser.add_argument("--full", action="store_true", help="re-derive every week's aggregate from all of silver")
    args = parse(parser, argv)

    def body():
        cfg = load_conf(args.conf, spark_overrides(args))
        cfg["warehouse"] = args.warehouse
        cfg.setdefault("summarize", {})["full"] = args.full
        run(build_session(cfg, "state-of-ai summarize"), cfg)

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
