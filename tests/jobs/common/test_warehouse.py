"""jobs.common.warehouse: finding the version a tagged write committed."""

from __future__ import annotations

import pytest

from jobs.common import warehouse
from jobs.common.cli import PipelineError


def test_a_tagged_write_is_found_at_its_own_version_after_later_commits(spark, tmp_path):
    path = str(tmp_path / "t")
    rows = spark.createDataFrame([(1, "a"), (2, "b")], "id INT, part STRING")
    warehouse.overwrite(rows, path, ["part"], tag="first")                                  # version 0
    replaced = spark.createDataFrame([(3, "a")], "id INT, part STRING")
    warehouse.overwrite(replaced, path, replace_where="part = 'a'", tag="second")           # version 1
    warehouse.overwrite(rows, path)                                                         # version 2: another run's
    assert warehouse.committed_version(spark, path, "first") == 0
    assert warehouse.committed_version(spark, path, "second") == 1
    # what the tagged write left, read at its version: part a replaced, part b kept
    at_second = spark.read.format("delta").option("versionAsOf", 1).load(path)
    assert sorted(r.id for r in at_second.collect()) == [2, 3]
    with pytest.raises(PipelineError, match="no commit tagged third"):
        warehouse.committed_version(spark, path, "third")
