"""The jobs under spark-submit on a real standalone cluster (a master and two workers on
127.0.0.1, started from the installed pyspark), with an executor killed mid-run.

The project goes to the cluster as the zip from jobs.package (--py-files) and Delta
through --packages. The cluster generates a small year and runs the pipeline on it;
one executor is killed with SIGKILL while the pipeline runs. The same raw files then
go through the pipeline in local mode (no fault), and every gold table, and silver,
must be equal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from jobs import package, pipeline
from jobs.cli import CONF_DIR, load_conf
from jobs.standalone import StandaloneCluster, spark_submit
from jobs.summarize import gold_table_names

KEY_ENV = "STATE_OF_AI_ACCOUNT_KEY"
TEST_KEY = "cluster-test-key"
REQUESTS = 20_000
CLUSTER_CONF = str(CONF_DIR / "cluster.yaml")


def _submit(cluster, dist, args, log, **popen):
    archive, launcher = dist
    return spark_submit(
        cluster.url, archive, launcher,
        [args[0], "--conf", CLUSTER_CONF, "--shuffle-partitions", "2", *args[1:]],
        executor_memory="1g", driver_memory="1g", env={KEY_ENV: TEST_KEY}, cwd=log.parent,
        stderr=open(log, "wb"), **popen,
    )


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """Generate and run the pipeline on the cluster, killing one executor after ingest."""
    root = tmp_path_factory.mktemp("cluster")
    dist = package.build(root / "dist")
    raw, wh = root / "raw", root / "warehouse"
    result = {"raw": raw, "warehouse": wh, "killed": [], "stdout": []}
    with StandaloneCluster(workers=2, cores=1, memory="1g", root=root / "cluster") as cluster:
        gen = _submit(cluster, dist, ["generate", "--requests", str(REQUESTS), "--label-rate", "0.05",
                                      "--out", str(raw), "--partitions", "2"], root / "generate.log",
                      stdout=subprocess.PIPE, text=True)
        out, _ = gen.communicate(timeout=600)
        result["generate_rc"], result["generate_out"] = gen.returncode, out
        if gen.returncode != 0:
            return result
        pipe = _submit(cluster, dist, ["pipeline", "--events", str(raw / "events"), "--labels",
                                       str(raw / "labels"), "--warehouse", str(wh)], root / "pipeline.log",
                       stdout=subprocess.PIPE, text=True)
        started = time.monotonic()
        for line in pipe.stdout:  # the driver prints a line as each stage ends
            result["stdout"].append(line.rstrip("\n"))
            if line.startswith("pipeline: ingest done") and not result["killed"]:
                executors = cluster.executor_pids()
                result["executors_before"] = executors
                if executors:
                    os.kill(executors[0], signal.SIGKILL)  # the fault: an executor dies mid-job
                    result["killed"].append(executors[0])
            if time.monotonic() - started > 900:
                pipe.kill()
        result["pipeline_rc"] = pipe.wait(timeout=60)
        result["pipeline_log"] = (root / "pipeline.log").read_text(errors="replace")
    return result


@pytest.fixture(scope="module")
def local_run(spark, cluster_run, tmp_path_factory):
    """The same raw files through the pipeline in local mode, fault-free, same conf and key."""
    if cluster_run.get("pipeline_rc") != 0:
        pytest.fail("the cluster run failed; see test_cluster_jobs_succeed")
    wh = str(tmp_path_factory.mktemp("local") / "warehouse")
    cfg = load_conf(CLUSTER_CONF)
    cfg.update(warehouse=wh, input_format="auto", inputs={
        "events": str(cluster_run["raw"] / "events"), "labels": str(cluster_run["raw"] / "labels")})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, TEST_KEY)
        results = pipeline.run(spark, cfg)
    return {"warehouse": wh, "results": results}


def test_cluster_jobs_succeed(cluster_run):
    assert cluster_run["generate_rc"] == 0, cluster_run.get("generate_out")
    assert f"generate: {REQUESTS} requests" in cluster_run["generate_out"]
    assert cluster_run["pipeline_rc"] == 0, cluster_run["pipeline_log"][-3000:]
    assert any(line.startswith("pipeline: summarize done") for line in cluster_run["stdout"])


def test_an_executor_was_killed_and_the_job_recovered(cluster_run):
    # two executors (one per worker) were running when the fault was injected
    assert len(cluster_run["executors_before"]) == 2
    assert len(cluster_run["killed"]) == 1
    # the driver saw the loss, and the job still ended well (test above)
    assert "Lost executor" in cluster_run["pipeline_log"] or "Executor lost" in cluster_run["pipeline_log"]


def test_ingest_accounting_equals_local_run(cluster_run, local_run):
    events = local_run["results"]["ingest"]["events"]
    assert events.read > REQUESTS  # the generator plants duplicates
    assert events.line() in cluster_run["stdout"]
    assert local_run["results"]["ingest"]["labels"].line() in cluster_run["stdout"]


def _table(spark, wh, name):
    df = spark.read.format("delta").load(f"{wh}/{name}")
    return df.select(*sorted(df.columns))


def test_silver_equals_local_run(spark, cluster_run, local_run):
    cluster = _table(spark, cluster_run["warehouse"], "silver/events")
    local = _table(spark, local_run["warehouse"], "silver/events")
    assert local.count() > 0.9 * REQUESTS
    assert_df_equality(cluster, local, ignore_row_order=True)


@pytest.mark.parametrize("table", gold_table_names())
def test_gold_table_equals_local_run(spark, cluster_run, local_run, table):
    cluster = _table(spark, cluster_run["warehouse"], f"gold/{table}")
    local = _table(spark, local_run["warehouse"], f"gold/{table}")
    assert cluster.schema == local.schema
    # sums of doubles may differ in the last bits with the order of addition
    assert_approx_df_equality(cluster, local, 1e-9, ignore_row_order=True, allow_nan_equality=True)
