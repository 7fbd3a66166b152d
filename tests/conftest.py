"""The one session-scoped Spark fixture, and helpers shared by the tests."""

from __future__ import annotations

import pytest
import yaml

from jobs.common.cli import load_conf
from jobs.common.session import build_session
from tests.helpers import TEST_JVM_OPTIONS

# Test-only Spark settings, in one place. The tests run hundreds of queries on a few
# rows each: their cost is planning and Janino's compiling of generated code, not data.
# Expressions are interpreted here (Spark's own suites test both paths), and in the jobs
# the concurrency and killed-run tests start in processes of their own (through
# `subprocess_conf`); the production paths with code generation run in the cluster
# test, under conf/cluster.yaml, whose results are compared with a run of this session.
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
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            # No `.crc` file beside each Delta commit: a cache of the table's state (its
            # size, file list and metadata) that Delta rebuilds from the log when it is
            # missing, and that no test reads. Deriving it costs a state reconstruction per
            # commit on these small tables: a tenth of a 40-request pipeline run
            # (bench/results.md). The jobs keep it; the cluster test runs with it.
            "spark.databricks.delta.writeChecksumFile.enabled": "false",
            # The session's JVM too: the suite runs in two workers (setup.cfg) that keep
            # both cores busy, where C2's compiling costs more than its code saves.
            "spark.driver.extraJavaOptions": TEST_JVM_OPTIONS,
        },
    }
}


@pytest.fixture(scope="session")
def cfg():
    """The default conf with test-sized Spark settings."""
    return load_conf(overrides=TEST_SPARK)


@pytest.fixture(scope="session")
def subprocess_conf(tmp_path_factory):
    """A conf file with TEST_SPARK's settings, for a job started as `python -m jobs.X --conf F`
    (the master, driver memory and shuffle partitions are the test's own flags), its
    driver with TEST_JVM_OPTIONS."""
    path = tmp_path_factory.mktemp("conf") / "test.yaml"
    path.write_text(yaml.safe_dump({"spark": {"conf": TEST_SPARK["spark"]["conf"]}}))
    return path


@pytest.fixture(scope="session")
def spark(cfg):
    """One local[2] SparkSession with Delta, for the whole test run."""
    session = build_session(cfg, "state-of-ai tests")
    yield session
    session.stop()


CALIBRATION_REQUESTS = 100_000
CALIBRATION_LABEL_RATE = 0.03


@pytest.fixture(scope="session")
def generated_warehouse(spark, cfg, tmp_path_factory):
    """A generated year (100k requests, 3% labelled) run through the whole pipeline once.

    Shared by the calibration, report and notebook tests. k_min is 5 here: a
    100k-request year has cohorts of a few dozen accounts, and the planted
    signals must stay visible (the default 10 is for real traffic).
    """
    from jobs import generate, pipeline

    root = tmp_path_factory.mktemp("generated")
    run_cfg = {
        **cfg,
        "generate": {"requests": CALIBRATION_REQUESTS, "out": str(root / "raw"), "seed": 7, "format": "jsonl",
                     "label_rate": CALIBRATION_LABEL_RATE, "mess_rate": None, "partitions": 2},
    }
    manifest = generate.run(spark, run_cfg)
    wh = str(root / "warehouse")
    pipe_cfg = {
        **cfg, "warehouse": wh, "privacy": {**cfg["privacy"], "k_min": 5},
        "inputs": {"events": str(root / "raw" / "events"), "labels": str(root / "raw" / "labels")},
    }
    results = pipeline.run(spark, pipe_cfg)
    return {"warehouse": wh, "manifest": manifest, "results": results, "root": root}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """The suite runs in two pytest-xdist workers (`-n 2 --dist loadgroup`, setup.cfg),
    one SparkSession each. A module runs whole on one worker, so its module fixtures are
    built once; every module that reads the shared 100k year joins one group, so the year
    is generated and run once. The groups that run pipelines in JVMs of their own (marked
    `cluster` or `slow`) and the shared year start first: they are the longest, and the
    other worker takes the many short modules meanwhile."""
    shared = {item.module.__name__ for item in items if "generated_warehouse" in item.fixturenames}
    long = shared | {item.module.__name__ for item in items
                     if item.get_closest_marker("slow") or item.get_closest_marker("cluster")}
    for item in items:
        module = item.module.__name__
        item.add_marker(pytest.mark.xdist_group("generated_warehouse" if module in shared else module))
    # cluster first, then the other long groups, then the rest (a stable sort: same order on every worker)
    items.sort(key=lambda item: (item.get_closest_marker("cluster") is None, item.module.__name__ not in long))
