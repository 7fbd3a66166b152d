"""The jobs under spark-submit on a real standalone cluster (a master and two workers on
127.0.0.1, started from the installed pyspark), with an executor killed mid-run.

The project goes to the cluster as `make dist` builds it: the zip (--py-files), the
packed Python environment (--archives, the interpreter of every Python process Spark
starts), and Delta through --packages, with conf/cluster.yaml. The driver runs as it
would in cluster deploy mode on YARN or Kubernetes: with the archive's interpreter,
unpacked into an empty folder, and nothing else of this machine's Python packages
(pyspark comes from spark-submit, as on a cluster). A small quarter (a few thousand requests
over three months: what is tested is the distribution and the fault, not the volume)
is generated in the test session and run through the pipeline twice: fault-free in local mode in the
test session, and on the cluster, where one executor is killed with SIGKILL while the
pipeline runs. The ingest accounting, silver and every gold table must be equal.
(That the generator writes the same rows whatever its partitioning is
tests/jobs/test_generate.py's check.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from jobs.common.cli import CONF_DIR, load_conf
from jobs.summarize import gold_table_names
from tests.helpers import TEST_JVM_OPTIONS, assert_same_gold, gold
from tools import package
from tools.standalone import StandaloneCluster, spark_submit

pytestmark = pytest.mark.cluster  # `pytest -m "not cluster"` for a quicker local loop

KEY_ENV = "STATE_OF_AI_ACCOUNT_KEY"
REQUESTS, SEED, LABEL_RATE, K_MIN = 3000, 11, 0.05, 2
# Three months (13 ISO weeks): every share, cohort and fit has data, and bronze and
# silver have 91 days to write rather than a year's 393.
WINDOW = {"start": "2025-06-02", "end": "2025-08-31"}


def _submit(cluster, dist, python_env, conf, args, log, **popen):
    archive, launcher = dist
    key = load_conf()["privacy"]["local_key"]  # the key of the fixture's local run
    return spark_submit(
        cluster.url, archive, launcher, [args[0], "--conf", str(conf), "--shuffle-partitions", "4", *args[1:]],
        executor_memory="1g", driver_memory="1g", python_env=python_env["archive"],
        extra_conf={"spark.driver.extraJavaOptions": TEST_JVM_OPTIONS, "spark.executor.extraJavaOptions": TEST_JVM_OPTIONS},
        driver_python=str(python_env["python"]), env={KEY_ENV: key}, cwd=python_env["cwd"],
        popen={"stderr": open(log, "wb"), **popen},
    )


def _argv(pid: int) -> list[str]:
    """A running process's command line."""
    return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")


def _interpreters_running(script) -> list[str]:
    """argv[0] of every process running `script` (the driver's Python under spark-submit)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = _argv(int(entry.name)) if entry.name.isdigit() else []
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == str(script):
            found.append(argv[0])
    return found


def _unpacked_env(root: Path) -> dict:
    """`make dist`'s environment archive, unpacked into an empty folder as a cluster-mode
    driver's container would hold it, and what its interpreter imports from where."""
    archive = package.build_env(root / "dist")
    cwd = root / "driver"
    (cwd / package.ENV_ALIAS).mkdir(parents=True)
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(cwd / package.ENV_ALIAS)], check=True)
    python = cwd / package.ENV_PYTHON
    probe = subprocess.run(
        [str(python), "-c", "import importlib.util as u, json; print(json.dumps({m: (u.find_spec(m) or None) and "
         "u.find_spec(m).origin for m in ['yaml', 'numpy', 'scipy', 'pandas', 'pyarrow', 'delta', 'pyspark']}))"],
        cwd=cwd, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    return {"archive": archive, "cwd": cwd, "python": python, "origins": json.loads(probe.stdout)}


@pytest.fixture(scope="module")
def python_env_building(tmp_path_factory):
    """The packed environment, building in a thread: pip's install and the packing are
    mostly one core's work, so the local run below takes the other core meanwhile."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(_unpacked_env, tmp_path_factory.mktemp("python-env"))


@pytest.fixture(scope="module")
def python_env(python_env_building, local_run):
    """The unpacked environment, once built (after the local run, which overlaps the build)."""
    return python_env_building.result()


def test_the_packed_environment_holds_what_the_jobs_import_and_no_spark(python_env):
    origins = python_env["origins"]
    inside = str(python_env["cwd"] / package.ENV_ALIAS)
    for module in ["yaml", "numpy", "scipy", "pandas", "pyarrow", "delta"]:
        assert origins[module] and origins[module].startswith(inside), (module, origins[module])
    # pyspark is the cluster's: spark-submit puts its pyspark.zip on the driver's path
    assert origins["pyspark"] is None


@pytest.fixture(scope="module")
def local_run(spark, cfg, tmp_path_factory):
    """The small year generated and run through the pipeline in local mode, without faults."""
    from jobs import generate, pipeline

    root = tmp_path_factory.mktemp("cluster-local")
    params = {**generate.load_params(), "window": WINDOW}
    (root / "generator.yaml").write_text(yaml.safe_dump(params))
    manifest = generate.run(spark, {**cfg, "generate": {
        "requests": REQUESTS, "out": str(root / "raw"), "seed": SEED, "format": "jsonl", "label_rate": LABEL_RATE,
        "mess_rate": None, "partitions": 2, "params": str(root / "generator.yaml")}})
    wh = str(root / "warehouse")
    results = pipeline.run(spark, {
        **cfg, "warehouse": wh, "privacy": {**cfg["privacy"], "k_min": K_MIN},
        "inputs": {"events": str(root / "raw" / "events"), "labels": str(root / "raw" / "labels")},
    })
    return {"warehouse": wh, "manifest": manifest, "results": results, "root": root}


@pytest.fixture(scope="module")
def cluster_run(local_run, python_env, tmp_path_factory):
    """Run the pipeline on the cluster over the local run's files, killing one executor after ingest."""
    root = tmp_path_factory.mktemp("cluster")
    dist = package.build(root / "dist")
    # conf/cluster.yaml as shipped, with the local run's k_min (a small year)
    conf = yaml.safe_load((CONF_DIR / "cluster.yaml").read_text())
    conf["privacy"]["k_min"] = K_MIN
    conf["write"]["files_per_day"] = 1  # 91 days of a tiny quarter: 16 files a day would be 1,500 files
    # Test-sized Delta state: a log of a few dozen commits, not the default 50 partitions
    conf["spark"]["conf"]["spark.databricks.delta.snapshotPartitions"] = "2"
    conf_path = root / "cluster-test.yaml"
    conf_path.write_text(yaml.safe_dump(conf))
    raw, wh = local_run["root"] / "raw", root / "warehouse"  # the same files as the local run
    result = {"raw": raw, "warehouse": wh, "killed": [], "stdout": []}
    with StandaloneCluster(workers=2, cores=1, memory="1g", root=root / "cluster",
                           daemon_java_options=TEST_JVM_OPTIONS) as cluster:
        pipe = _submit(cluster, dist, python_env, conf_path, [
            "pipeline", "--events", str(raw / "events"), "--labels", str(raw / "labels"), "--warehouse", str(wh),
        ], root / "pipeline.log", stdout=subprocess.PIPE, text=True)
        started = time.monotonic()
        for line in pipe.stdout:  # the driver prints a line as each stage ends
            result["stdout"].append(line.rstrip("\n"))
            if line.startswith("pipeline: ingest done") and not result["killed"]:
                result["driver_interpreters"] = _interpreters_running(dist[1])
                executors = cluster.executor_pids()
                result["executors_before"] = executors
                jvms = {"driver": [pipe.pid], "executor": executors, "daemon": [p.pid for p in cluster.processes]}
                result["jvm_argv"] = {role: [_argv(pid) for pid in pids] for role, pids in jvms.items()}
                if executors:
                    os.kill(executors[0], signal.SIGKILL)  # the fault: an executor dies mid-job
                    result["killed"].append(executors[0])
            if time.monotonic() - started > 900:
                pipe.kill()
        result["pipeline_rc"] = pipe.wait(timeout=60)
        result["pipeline_log"] = (root / "pipeline.log").read_text(errors="replace")
    return result


@pytest.fixture(scope="module")
def cluster_ok(cluster_run):
    """The cluster run, for the tests that compare its results (its failure is reported once, below)."""
    if cluster_run.get("pipeline_rc") != 0:
        pytest.fail("the cluster run failed; see test_cluster_jobs_succeed")
    return cluster_run


def test_cluster_jobs_succeed(cluster_run):
    assert cluster_run["pipeline_rc"] == 0, cluster_run["pipeline_log"][-3000:]
    assert any(line.startswith("pipeline: summarize done") for line in cluster_run["stdout"])


def test_the_driver_ran_on_the_unpacked_environment(cluster_ok, python_env):
    assert cluster_ok["driver_interpreters"] == [str(python_env["python"])]


def test_every_jvm_of_the_cluster_run_had_the_test_flags(cluster_ok):
    # the driver (spark-submit's JVM), both executors, the master and both workers
    argv = cluster_ok["jvm_argv"]
    assert [len(argv[role]) for role in ("driver", "executor", "daemon")] == [1, 2, 3]
    for role, processes in argv.items():
        for args in processes:
            assert args[0].endswith("java") and set(TEST_JVM_OPTIONS.split()) <= set(args), (role, args[:8])


def test_an_executor_was_killed_and_the_job_recovered(cluster_run):
    # two executors (one per worker) were running when the fault was injected
    assert len(cluster_run["executors_before"]) == 2
    assert len(cluster_run["killed"]) == 1
    # the driver saw the loss, and the job still ended well (test above)
    assert "Lost executor" in cluster_run["pipeline_log"] or "Executor lost" in cluster_run["pipeline_log"]


def test_ingest_accounting_equals_local_run(cluster_ok, local_run):
    events = local_run["results"]["ingest"]["events"]
    assert events.read > REQUESTS  # the generator plants duplicates
    assert events.line() in cluster_ok["stdout"]
    assert local_run["results"]["ingest"]["labels"].line() in cluster_ok["stdout"]


def _table(spark, wh, name):
    df = spark.read.format("delta").load(f"{wh}/{name}")
    return df.select(*sorted(df.columns))


def test_silver_equals_local_run(spark, cluster_ok, local_run):
    cluster = _table(spark, cluster_ok["warehouse"], "silver/events")
    local = _table(spark, local_run["warehouse"], "silver/events")
    assert cluster.schema == local.schema
    assert cluster.count() == local.count() > 0.9 * REQUESTS
    # the same multiset of rows, compared by Spark
    assert cluster.exceptAll(local).count() == 0 and local.exceptAll(cluster).count() == 0


@pytest.mark.parametrize("table", gold_table_names())
def test_gold_table_equals_local_run(cluster_ok, local_run, table):
    from deltalake import DeltaTable

    cluster, local = f"{cluster_ok['warehouse']}/gold/{table}", f"{local_run['warehouse']}/gold/{table}"
    assert DeltaTable(cluster).schema().to_json() == DeltaTable(local).schema().to_json()
    # sums of doubles may differ in the last bits with the order of addition
    assert_same_gold(gold(cluster), gold(local))
