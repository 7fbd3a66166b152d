"""jobs.common.warehouse: finding the version a tagged write committed; the big tables' statistics."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from jobs.common import warehouse
from jobs.common.cli import PipelineError
from jobs.common.session import local_frame


def test_a_tagged_write_is_found_at_its_own_version_after_later_commits(spark, tmp_path):
    path = str(tmp_path / "t")
    rows = local_frame(spark, [(1, "a"), (2, "b")], "id INT, part STRING")
    warehouse.overwrite(rows, path, ["part"], tag="first")                                  # version 0
    replaced = local_frame(spark, [(3, "a")], "id INT, part STRING")
    warehouse.overwrite(replaced, path, replace_where="part = 'a'", tag="second")           # version 1
    warehouse.overwrite(rows, path)                                                         # version 2: another run's
    assert warehouse.committed_version(spark, path, "first") == 0
    assert warehouse.committed_version(spark, path, "second") == 1
    # what the tagged write left, read at its version: part a replaced, part b kept
    at_second = spark.read.format("delta").option("versionAsOf", 1).load(path)
    assert sorted(r.id for r in at_second.collect()) == [2, 3]
    with pytest.raises(PipelineError, match="no commit tagged third"):
        warehouse.committed_version(spark, path, "third")


def _file_stats(table: Path) -> dict[str, dict]:
    """The statistics of every file a table's commits added, by file, read from its JSON log (no Spark)."""
    found = {}
    for commit in sorted((table / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            added = json.loads(line).get("add")
            if added and added.get("stats"):
                found[unquote(added["path"])] = json.loads(added["stats"])
    return found


@pytest.mark.parametrize("name, columns, scanned", [
    ("bronze/events", ("created_at",), "generation_id"),
    ("silver/events", ("created_at",), "generation_id"),
    ("silver/weekly_aggregate", (), "requests"),
])
def test_the_big_tables_keep_min_max_statistics_only_where_a_reader_can_skip_by_them(
        generated_warehouse, spark, name, columns, scanned):
    from pyspark.sql import functions as F

    table = Path(generated_warehouse["warehouse"]) / name
    stats = _file_stats(table)
    # created_at in bronze and silver, none in the aggregate: not the 32 first columns of Delta's default
    assert {tuple(sorted(s.get("minValues", {}))) for s in stats.values()} == {columns}
    assert {tuple(sorted(s.get("nullCount", {}))) for s in stats.values()} == {columns}
    # every file still has its row count: over the table's files, its rows (counted by a
    # scan, not from the statistics: a filter on a column without them)
    rows = spark.read.format("delta").load(str(table))
    live = [unquote(urlparse(f).path)[len(str(table)) + 1:] for f in rows.inputFiles()]
    assert len(live) > 1
    assert sum(stats[f]["numRecords"] for f in live) == rows.filter(F.col(scanned).isNotNull()).count()
