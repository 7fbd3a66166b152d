"""The jobs under spark-submit on a real standalone cluster (a master and two workers on
127.0.0.1, started from the installed pyspark), with an executor killed mid-run.

The project goes to the cluster as the zip from jobs.package (--py-files) and Delta
through --packages, with conf/cluster.yaml. The cluster generates the same year as
the `generated_warehouse` fixture (same seed and size) and runs the pipeline on it;
one executor is killed with SIGKILL while the pipeline runs. The raw files, the
ingest accounting, silver and every gold table must equal those of the fixture's
fault-free local-mode run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import yaml
from chispa import assert_approx_df_equality

from jobs import package
from jobs.cli import CONF_DIR, load_conf
from jobs.standalone import StandaloneCluster, spark_submit
from jobs.summarize import gold_table_names
from tests.conftest import CALIBRATION_LABEL_RATE, CALIBRATION_REQUESTS

pytestmark = pytest.mark.cluster  # `pytest -m "not cluster"` for a quicker local loop

KEY_ENV = "STATE_OF_AI_ACCOUNT_KEY"


def _submit(cluster, dist, conf, args, log, **popen):
    archive, launcher = dist
    key = load_conf()["privacy"]["local_key"]  # the key of the fixture's local run
    return spark_submit(
        cluster.url, archive, launcher, [args[0], "--conf", str(conf), "--shuffle-partitions", "4", *args[1:]],
        executor_memory="1g", driver_memory="1g", env={KEY_ENV: key}, cwd=log.parent,
        stderr=open(log, "wb"), **popen,
    )


@pytest.fixture(scope="module")
def cluster_run(generated_warehouse, tmp_path_factory):
    """Generate and run the pipeline on the cluster, killing one executor after ingest."""
    root = tmp_path_factory.mktemp("cluster")
    dist = package.build(root / "dist")
    # conf/cluster.yaml as shipped, with the fixture's k_min (a 100k-request year is small)
    conf = yaml.safe_load((CONF_DIR / "cluster.yaml").read_text())
    conf["privacy"]["k_min"] = 5
    conf["write"]["files_per_day"] = 1  # 393 days of a tiny year: 16 files a day would be 6,000 files
    conf_path = root / "cluster-test.yaml"
    conf_path.write_text(yaml.safe_dump(conf))
    manifest = generated_warehouse["manifest"]
    raw, wh = root / "raw", root / "warehouse"
    result = {"raw": raw, "warehouse": wh, "killed": [], "stdout": []}
    with StandaloneCluster(workers=2, cores=1, memory="1g", root=root / "cluster") as cluster:
        gen = _submit(cluster, dist, conf_path, [
            "generate", "--requests", str(CALIBRATION_REQUESTS), "--seed", str(manifest["seed"]),
            "--label-rate", str(CALIBRATION_LABEL_RATE), "--out", str(raw), "--partitions", "3",
        ], root / "generate.log", stdout=subprocess.PIPE, text=True)
        out, _ = gen.communicate(timeout=600)
        result["generate_rc"], result["generate_out"] = gen.returncode, out
        if gen.returncode != 0:
            return result
        pipe = _submit(cluster, dist, conf_path, [
            "pipeline", "--events", str(raw / "events"), "--labels", str(raw / "labels"), "--warehouse", str(wh),
        ], root / "pipeline.log", stdout=subprocess.PIPE, text=True)
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
def local_run(cluster_run, generated_warehouse):
    """The fixture's fault-free local-mode run of the same year."""
    if cluster_run.get("pipeline_rc") != 0:
        pytest.fail("the cluster run failed; see test_cluster_jobs_succeed")
    return generated_warehouse


def test_cluster_jobs_succeed(cluster_run):
    assert cluster_run["generate_rc"] == 0, cluster_run.get("generate_out")
    assert f"generate: {CALIBRATION_REQUESTS} requests" in cluster_run["generate_out"]
    assert cluster_run["pipeline_rc"] == 0, cluster_run["pipeline_log"][-3000:]
    assert any(line.startswith("pipeline: summarize done") for line in cluster_run["stdout"])


def test_an_executor_was_killed_and_the_job_recovered(cluster_run):
    # two executors (one per worker) were running when the fault was injected
    assert len(cluster_run["executors_before"]) == 2
    assert len(cluster_run["killed"]) == 1
    # the driver saw the loss, and the job still ended well (test above)
    assert "Lost executor" in cluster_run["pipeline_log"] or "Executor lost" in cluster_run["pipeline_log"]


@pytest.mark.parametrize("kind", ["events", "labels"])
def test_generated_files_equal_local_run(spark, cluster_run, local_run, kind):
    # 3 files on the cluster, 2 in the fixture: the same lines whatever the partitioning
    cluster = spark.read.text(str(cluster_run["raw"] / kind))
    local = spark.read.text(str(local_run["root"] / "raw" / kind))
    assert cluster.count() == local.count() > 0
    assert cluster.exceptAll(local).count() == 0 and local.exceptAll(cluster).count() == 0


def test_ingest_accounting_equals_local_run(cluster_run, local_run):
    events = local_run["results"]["ingest"]["events"]
    assert events.read > CALIBRATION_REQUESTS  # the generator plants duplicates
    assert events.line() in cluster_run["stdout"]
    assert local_run["results"]["ingest"]["labels"].line() in cluster_run["stdout"]


def _table(spark, wh, name):
    df = spark.read.format("delta").load(f"{wh}/{name}")
    return df.select(*sorted(df.columns))


def test_silver_equals_local_run(spark, cluster_run, local_run):
    cluster = _table(spark, cluster_run["warehouse"], "silver/events")
    local = _table(spark, local_run["warehouse"], "silver/events")
    assert cluster.schema == local.schema
    assert cluster.count() == local.count() > 0.9 * CALIBRATION_REQUESTS
    # the same multiset of rows (compared by Spark: 100k rows are too many to collect)
    assert cluster.exceptAll(local).count() == 0 and local.exceptAll(cluster).count() == 0


@pytest.mark.parametrize("table", gold_table_names())
def test_gold_table_equals_local_run(spark, cluster_run, local_run, table):
    cluster = _table(spark, cluster_run["warehouse"], f"gold/{table}")
    local = _table(spark, local_run["warehouse"], f"gold/{table}")
    assert cluster.schema == local.schema
    # sums of doubles may differ in the last bits with the order of addition
    assert_approx_df_equality(cluster, local, 1e-9, ignore_row_order=True, allow_nan_equality=True)
