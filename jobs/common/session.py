"""The one place that builds a SparkSession, for every job, test and notebook."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from pyspark.logger import PySparkLogger
from pyspark.sql import DataFrame, SparkSession

from jobs.common.cli import CONF_DIR

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # Every table keeps a change data feed: enrich reads only what bronze added since
    # its last run, and an operator can audit what any run changed.
    "spark.databricks.delta.properties.defaults.enableChangeDataFeed": "true",
}
SCALA_VERSION = "2.13"  # every Spark 4 build


def delta_package() -> str:
    """Delta's Maven coordinate for the installed delta-spark and pyspark, built as
    `configure_spark_with_delta_pip` builds it (delta-spark_<spark major.minor>_<scala>),
    so setup.cfg's pins are the one place the versions live."""
    spark = ".".join(metadata.version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark}_{SCALA_VERSION}:{metadata.version('delta-spark')}"


# What Delta 4.3's POM drags in besides Delta itself (33 jars): most are already on
# Spark's own classpath (Jackson, Hadoop's client, Parquet, log4j, slf4j, the
# compression codecs), where they win anyway (parent-first class loading). Leaving
# them out of the resolution keeps start-up quieter and saves every executor of a
# cluster from fetching ~60 MB of duplicate jars. spark.jars.excludes / --exclude-packages.
SPARK_PROVIDED = [
    "com.fasterxml.jackson.core:jackson-annotations", "com.fasterxml.jackson.core:jackson-core",
    "com.fasterxml.jackson.core:jackson-databind", "com.github.luben:zstd-jni", "com.google.code.findbugs:jsr305",
    "commons-pool:commons-pool", "io.airlift:aircompressor", "org.apache.hadoop:hadoop-client-api",
    "org.apache.hadoop:hadoop-client-runtime", "org.apache.logging.log4j:log4j-api",
    "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-slf4j2-impl",
    "org.apache.parquet:parquet-column", "org.apache.parquet:parquet-common", "org.apache.parquet:parquet-encoding",
    "org.apache.parquet:parquet-format-structures", "org.apache.parquet:parquet-hadoop",
    "org.apache.parquet:parquet-jackson", "org.locationtech.jts:jts-core", "org.roaringbitmap:RoaringBitmap",
    "org.roaringbitmap:shims", "org.slf4j:slf4j-api", "org.xerial.snappy:snappy-java",
]
DELTA_EXCLUDES = ",".join(SPARK_PROVIDED)


def session_settings(spark_cfg: dict[str, Any]) -> dict[str, str]:
    """The Spark settings of a conf's `spark` block: Delta's, the shuffle partitions, the
    conf's own, the project's log settings for the driver's JVM (with any JVM options of
    the conf's after them, not instead of them) and the UTC time zone."""
    log4j = CONF_DIR / "log4j2.properties"
    conf = {k: str(v) for k, v in (spark_cfg.get("conf") or {}).items()}
    java_options = [f"-Dlog4j.configurationFile=file:{log4j}", conf.get("spark.driver.extraJavaOptions")]
    return {
        **DELTA_CONF,
        "spark.sql.shuffle.partitions": str(spark_cfg.get("shuffle_partitions", 8)),
        **conf,
        "spark.driver.extraJavaOptions": " ".join(filter(None, java_options)),
        "spark.sql.session.timeZone": "UTC",
    }


def build_session(cfg: dict[str, Any], app_name: str | None = None) -> SparkSession:
    """Build (or reuse) the SparkSession described by the `spark` block of a conf.

    Local mode by default; the master, driver memory, shuffle partitions and any
    extra Spark settings come from the conf. The session time zone is always UTC:
    every week and date in the warehouse is a UTC one.
    """
    spark_cfg = cfg.get("spark", {})
    builder = SparkSession.builder.appName(app_name or spark_cfg.get("app_name", "state-of-ai"))
    if spark_cfg.get("master"):
        builder = builder.master(spark_cfg["master"])
    if spark_cfg.get("driver_memory"):
        builder = builder.config("spark.driver.memory", spark_cfg["driver_memory"])
    for key, value in session_settings(spark_cfg).items():
        builder = builder.config(key, value)
    resolve = bool(spark_cfg.get("delta_pip_packages", True))
    cached = cached_delta_jars() if resolve else None
    if cached:  # resolved before: no Ivy run (and no 40-line resolution report) on a warm start
        builder = builder.config("spark.jars", ",".join(cached))
    elif resolve:
        from delta import configure_spark_with_delta_pip

        print("session: fetching Delta's jars from Maven (once; cached afterwards)", flush=True)
        builder = configure_spark_with_delta_pip(builder).config("spark.jars.excludes", DELTA_EXCLUDES)
    spark = builder.getOrCreate()
    if resolve and not cached:
        remember_delta_jars(spark.conf.get("spark.jars", ""))
    # Under spark-submit the driver's JVM starts before this conf, so log4j2.properties
    # above does not reach it: SparkContext's public setLogLevel does. (A Spark Connect
    # client has no SparkContext; its server keeps its own log settings.)
    spark.sparkContext.setLogLevel(spark_cfg.get("log_level", "ERROR"))
    quiet_error_context_logs()
    return spark


@contextlib.contextmanager
def sql_settings(spark: SparkSession, settings: dict | None) -> Iterator[None]:
    """Run a block under these Spark SQL settings, then put back the session's own.

    A value of None leaves a setting as it is; `cores` is the application's cores (for
    `spark.sql.shuffle.partitions`). Meant for one phase of a job, such as summarize's
    many small queries over its cached aggregate.
    """
    changed = {}
    for key, value in (settings or {}).items():
        if value is None:
            continue
        if value == "cores":
            # The application's cores: SparkContext's public defaultParallelism.
            value = spark.sparkContext.defaultParallelism
        changed[key] = spark.conf.get(key, None)
        spark.conf.set(key, str(value).lower() if isinstance(value, bool) else str(value))
    try:
        yield
    finally:
        for key, before in changed.items():
            if before is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, before)


def quiet_error_context_logs() -> None:
    """Silence PySpark 4's loggers that print every captured error's query context as
    a JSON record on stderr. The jobs turn the errors a user can fix into one line,
    and an unexpected one still ends with its traceback."""
    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _jars_record() -> Path:
    """Where the jars Ivy resolved for this Delta coordinate are remembered (one path a line)."""

    tag = hashlib.sha256(f"{delta_package()}|{DELTA_EXCLUDES}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "state-of-ai" / f"delta-jars-{tag}.txt"


def cached_delta_jars() -> list[str] | None:
    """The local jars an earlier start resolved for the installed delta-spark, when all are still there."""
    record = _jars_record()
    if not record.is_file():
        return None
    jars = [line for line in record.read_text().splitlines() if line.strip()]
    local = [j.removeprefix("file://").removeprefix("file:") for j in jars]
    return jars if jars and all(Path(p).is_file() for p in local) else None


def remember_delta_jars(spark_jars: str) -> None:
    """Record the jars spark-submit's Ivy resolution put on spark.jars (best effort)."""
    jars = [j for j in spark_jars.split(",") if j.strip().endswith(".jar")]
    if not any("delta-spark" in j for j in jars):
        return
    record = _jars_record()
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("\n".join(jars) + "\n")
        tmp.replace(record)  # atomic: a concurrent start reads the old record or the new one
    except OSError:
        pass


def local_frame(spark: SparkSession, rows, schema) -> DataFrame:
    """A DataFrame of a few rows the driver holds (the reference tables, a run's record in
    ops/, the signals and fits computed on the driver), `schema` a StructType or a DDL
    string.

    The rows go to the JVM as one Arrow batch and become a local relation there.
    `createDataFrame` of a Python list builds a pickled RDD instead: every query that
    reads the frame then starts a Python worker process to unpickle it (on a cluster, on
    an executor), about 4 s for the first and 0.3-0.4 s each after (bench/results.md).
    Naive datetimes are read as UTC, the pipeline's time zone.
    """
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    struct = T.StructType.fromDDL(schema) if isinstance(schema, str) else schema
    arrow = to_arrow_schema(struct)
    rows = list(rows)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(struct.fields)
    table = pa.Table.from_arrays([pa.array(list(c), type=f.type) for c, f in zip(columns, arrow, strict=True)], schema=arrow)
    return spark.createDataFrame(table, struct)


def physical_plan(df: DataFrame) -> str:
    """df's physical plan as `explain()` prints it."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):  # explain() prints; there is no public API returning the plan
        df.explain(mode="simple")
    return buffer.getvalue()
