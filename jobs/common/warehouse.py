"""Warehouse paths, input discovery and the Delta writes every job shares."""

from __future__ import annotations

import datetime as dt
import random
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.common.cli import PipelineError

if TYPE_CHECKING:  # the plotting step imports this module where Spark may be absent
    from pyspark.sql import DataFrame, SparkSession

FORMATS = {
    ".jsonl": "json", ".json": "json", ".ndjson": "json",
    ".jsonl.gz": "json", ".json.gz": "json", ".ndjson.gz": "json",
    ".parquet": "parquet", ".snappy.parquet": "parquet",
    ".csv": "csv", ".csv.gz": "csv",
}
GLOB_CHARS = re.compile(r"[*?\[{]")
CREATE_ATTEMPTS = 20  # ensure_table: tries, 0.5 s apart, while another run creates the same table
CONFLICT = re.compile(r"DELTA_(CONCURRENT_\w+|PROTOCOL_CHANGED|METADATA_CHANGED)")


def table_path(warehouse: str, name: str) -> str:
    """The path of a warehouse table such as `bronze/events` or `gold/weekly_segment_share`."""
    return f"{warehouse.rstrip('/')}/{name}"


def file_format(name: str) -> str | None:
    """The input format of a file by its extension, or None for an unknown one."""
    lower = name.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if lower.endswith(ext):
            return FORMATS[ext]
    return None


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file:")


def check_input_exists(path: str, what: str) -> None:
    """Fail fast, before Spark starts, when a local input path matches nothing."""
    if not is_local(path):
        return
    local = path.removeprefix("file://").removeprefix("file:")
    if GLOB_CHARS.search(local):
        import glob

        if not glob.glob(local, recursive=True):
            raise PipelineError(f"{what}: no file matches {path}")
    elif not Path(local).exists():
        raise PipelineError(f"{what}: no such file or folder: {path}")
    elif Path(local).is_file() and file_format(local) is None:
        raise PipelineError(f"{what}: unknown file type (want .jsonl, .json.gz, .parquet or .csv): {path}")


@dataclass(frozen=True)
class InputFile:
    """A data file of an input: its path and what says whether it changed (size, and
    modification time in milliseconds since the epoch, as the file system reports them)."""

    path: str
    size: int
    modified_ms: int


def list_input_files(spark: SparkSession, path: str, what: str) -> dict[str, list[InputFile]]:
    """Data files under a file, folder or glob, grouped by format.

    Spark's own file index lists them (the `binaryFile` source with its path, length
    and modificationTime columns only: it opens a file only for its `content`), so
    the same code lists local folders, HDFS and object stores through public API
    only. Hidden files and folders (`_SUCCESS`, `.crc`, `_delta_log/`) are skipped; a
    folder is read recursively. Files of an unknown type are an error, not silently
    ignored.
    """
    from pyspark.sql import functions as F

    try:
        listing = (
            spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(path)
            .select("path", "length", F.unix_millis("modificationTime").alias("modified_ms"))
            .collect()  # one small row per file
        )
    except Exception as exc:  # PATH_NOT_FOUND, permissions, an unreachable store
        if "PATH_NOT_FOUND" in str(exc) and GLOB_CHARS.search(path):
            raise PipelineError(f"{what}: no file matches {path}") from exc
        raise PipelineError(f"{what}: cannot read {path}: {str(exc).splitlines()[0][:200]}") from exc
    grouped: dict[str, list[InputFile]] = {}
    unknown = []
    for row in sorted(listing, key=lambda r: r["path"]):
        f = row["path"]
        base = f.rsplit("/", 1)[-1]
        if base.startswith(("_", ".")) or "/_delta_log/" in f:
            continue
        fmt = file_format(base)
        if fmt is None:
            unknown.append(f)
        else:
            grouped.setdefault(fmt, []).append(InputFile(f, row["length"], row["modified_ms"]))
    if unknown:
        raise PipelineError(
            f"{what}: {len(unknown)} file(s) of unknown type, e.g. {unknown[0]} "
            "(want .jsonl, .json.gz, .parquet or .csv)"
        )
    return grouped


def is_delta_table(path: str) -> bool:
    """True when a local or object-store path holds a Delta table, read without Spark (delta-rs)."""
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(path)


def delta_exists(spark: SparkSession, path: str) -> bool:
    """True when a Delta table exists at path."""
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def by_day(df: DataFrame, files_per_day: int = 1, spread_by: str = "generation_id") -> DataFrame:
    """Arrange rows for a write partitioned by event_date: at most files_per_day files
    per day and batch, whatever the number of tasks.

    One file per day suits a laptop. At scale a day holds tens of millions of rows,
    and a weekly run touches only 7 days: spreading each day over files_per_day
    tasks (by a hash of spread_by) keeps every core busy and the files near a few
    hundred MB, without a second shuffle from Delta's optimized writes.
    """
    from pyspark.sql import functions as F

    if files_per_day <= 1:
        return df.repartition("event_date")
    return df.repartition("event_date", F.pmod(F.xxhash64(spread_by), F.lit(files_per_day)))


def files_per_day(cfg: dict) -> int:
    """The conf's write.files_per_day (default 1)."""
    value = (cfg.get("write") or {}).get("files_per_day", 1)
    if not isinstance(value, int) or value < 1:
        raise PipelineError(f"write.files_per_day must be a positive integer, not {value!r}")
    return value


def append(df: DataFrame, path: str, partition_by: list[str] | None = None, merge_schema: bool = False) -> None:
    """Append to a Delta table (created on first write); one atomic commit.

    merge_schema lets an ops table gain columns across versions of the pipeline.
    """
    writer = df.write.format("delta").mode("append")
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def ensure_table(spark: SparkSession, path: str, schema, partition_by: list[str] | None = None,
                 properties: dict[str, str] | None = None) -> None:
    """Create an empty Delta table with this schema (and these table properties) unless one
    exists, and add the columns an older version of the table lacks.

    A run creates every table it writes before its first data commit, so two first runs
    on an empty warehouse do not race to create a table with their data: when both
    create it at once, the loser finds it created and goes on.
    """
    from delta.tables import DeltaTable

    for attempt in range(CREATE_ATTEMPTS):
        if delta_exists(spark, path):
            break
        builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
        if partition_by:
            builder = builder.partitionedBy(*partition_by)
        for key, value in (properties or {}).items():
            builder = builder.property(key, value)
        try:
            builder.execute()
            break
        except Exception:  # another run is creating it: its first commit is on the way
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.5)
    present = {f.name for f in spark.read.format("delta").load(path).schema.fields}
    missing = [f for f in schema.fields if f.name not in present]
    if missing:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")


def insert_new(spark: SparkSession, df: DataFrame, path: str, keys: list[str],
               partition_values: dict[str, list] | None = None) -> int:
    """Insert the rows of df whose keys the table does not hold yet, in one MERGE commit;
    return how many it inserted.

    The MERGE reads the table (only the partitions in partition_values, when given) at
    the version it starts from, and Delta's conflict detection fails it with a
    ConcurrentAppendException when another run commits files there before it does: two
    runs never both add a key. Rows another run added before the MERGE started are
    matched and not inserted, so the count can be lower than df's.
    """
    from delta.tables import DeltaTable

    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    for column, values in (partition_values or {}).items():
        listed = ", ".join(f"'{v}'" for v in values)
        condition = f"t.`{column}` IN ({listed}) AND t.`{column}` = s.`{column}` AND " + condition
    merge = DeltaTable.forPath(spark, path).alias("t").merge(df.alias("s"), condition).whenNotMatchedInsertAll()
    return int(merge.execute().first()["num_inserted_rows"])  # one row of metrics


class InputMoved(PipelineError):
    """A stage's input table got a new version while the stage ran: its output may be
    older than what another run just wrote, so the stage starts over."""


def is_conflict(exc: BaseException) -> bool:
    """True for Delta's concurrent-modification errors (another run committed first) and InputMoved."""
    return (isinstance(exc, InputMoved) or type(exc).__module__.startswith("delta.exceptions")
            or bool(CONFLICT.search(str(exc)[:500])))


def check_unmoved(spark: SparkSession, path: str, version: int, what: str) -> None:
    """Raise InputMoved when the table at path is past the version a stage read."""
    if latest_version(spark, path) > version:
        raise InputMoved(f"{what} changed while this run read it (another run is writing); run again")


def max_attempts(cfg: dict) -> int:
    """The conf's write.max_attempts (default 5): tries of a stage, or of ingest's bronze
    commit, when another run commits to the same table first."""
    value = (cfg.get("write") or {}).get("max_attempts", 5)
    if not isinstance(value, int) or value < 1:
        raise PipelineError(f"write.max_attempts must be a positive integer, not {value!r}")
    return value


def with_conflict_retries(what: str, attempts: int, body):
    """body(attempt) -> result, started over when another run commits to one of its tables
    first (Delta's conflict detection); after `attempts` tries the conflict is raised."""
    for attempt in range(1, attempts + 1):
        try:
            return body(attempt)
        except Exception as exc:
            if attempt == attempts or not is_conflict(exc):
                raise
            print(f"{what}: another run committed to the same table first; starting over "
                  f"(attempt {attempt + 1} of {attempts})", flush=True)
            backoff(attempt)
    raise AssertionError("unreachable")


def backoff(attempt: int) -> None:
    """Wait a random 0.5-2 s times the attempt, so two runs that collided do not collide again in step."""
    time.sleep(random.uniform(0.5, 2.0) * attempt)


def overwrite(df: DataFrame, path: str, partition_by: list[str] | None = None, replace_where: str | None = None,
              tag: str | None = None, properties: dict[str, str] | None = None) -> None:
    """Replace a Delta table's contents (or, with replace_where, the rows matching that
    predicate) in one atomic commit: readers see old or new. tag goes into the commit's
    userMetadata, where committed_version finds it. properties: the table's properties
    when this write creates it (an existing table keeps its own)."""
    writer = df.write.format("delta").mode("overwrite").options(**(properties or {}))
    writer = writer.option("replaceWhere", replace_where) if replace_where else writer.option("overwriteSchema", "true")
    if tag:
        writer = writer.option("userMetadata", tag)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)


def committed_version(spark: SparkSession, path: str, tag: str) -> int:
    """The version of the commit a write tagged (overwrite's tag): what that write made,
    even when another run has committed to the table since."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    found = (DeltaTable.forPath(spark, path).history().filter(F.col("userMetadata") == tag)
             .select("version").first())  # one row: tags are unique
    if found is None:
        raise PipelineError(f"no commit tagged {tag} in {path}")
    return found[0]


def sql_dates(values) -> str:
    """Dates as a list of SQL literals (`DATE'2025-05-05', ...`), for a replaceWhere predicate."""
    return ", ".join(f"DATE'{v}'" for v in values)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time then a random suffix."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def latest_version(spark: SparkSession, path: str) -> int:
    """The latest committed version of a Delta table, or -1 when there is none."""
    from delta.tables import DeltaTable

    if not delta_exists(spark, path):
        return -1
    return DeltaTable.forPath(spark, path).history(1).select("version").first()[0]


def feed_gone_errors() -> tuple[type[BaseException], ...]:
    """What reading a change feed raises when the files or the log of its versions are gone
    (vacuumed, cleaned up) or the feed was never enabled."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors.exceptions.captured import CapturedException

    return (CapturedException, Py4JJavaError)


def change_feed(spark: SparkSession, path: str, after_version: int, until_version: int) -> DataFrame:
    """The rows a Delta table's change data feed records in versions (after_version, until_version]."""
    return (
        spark.read.format("delta").option("readChangeFeed", "true")
        .option("startingVersion", after_version + 1).option("endingVersion", until_version)
        .load(path)
    )
