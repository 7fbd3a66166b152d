"""The one session-scoped Spark fixture, and helpers shared by the tests."""

from __future__ import annotations

import pytest

from jobs.cli import load_conf
from jobs.session import build_session

TEST_SPARK = {
    "spark": {
        "master": "local[2]",
        "driver_memory": "2g",
        "shuffle_partitions": 2,
        "conf": {
            "spark.ui.enabled": "false",
            "spark.sql.adaptive.enabled": "false",
            "spark.default.parallelism": "2",
            "spark.databricks.delta.snapshotPartitions": "2",
        },
    }
}


@pytest.fixture(scope="session")
def cfg():
    """The default conf with test-sized Spark settings."""
    return load_conf(overrides=TEST_SPARK)


@pytest.fixture(scope="session")
def spark(cfg):
    """One local[2] SparkSession with Delta, for the whole test run."""
    session = build_session(cfg, "state-of-ai tests")
    yield session
    session.stop()
