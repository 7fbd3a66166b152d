"""A real Spark standalone cluster on 127.0.0.1, started from the installed pyspark.

    python -m tools.standalone --workers 2 --cores 1 --memory 2g   # runs until Ctrl-C

Used by the cluster tests and the benchmark, and by a developer who wants to try
spark-submit against a master and workers without a cluster. Everything it starts
is stopped when the context manager exits, whatever happened inside.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from jobs.common.cli import OneLineParser, PipelineError, exit_with, parse, run_cli

LOOPBACK = "127.0.0.1"


def spark_home() -> Path:
    """The installed pyspark's folder: it holds bin/spark-class and bin/spark-submit."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def cluster_env(extra: dict | None = None) -> dict:
    """The environment for masters, workers and spark-submit: loopback only, this Python."""
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_MASTER_HOST": LOOPBACK,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    # A Python process Spark starts gets its path from its interpreter and spark-submit
    # (--py-files, Spark's pyspark.zip), not from the caller's shell.
    env.pop("PYTHONSTARTUP", None)
    env.pop("PYTHONPATH", None)
    return {**env, **(extra or {})}


@dataclass
class StandaloneCluster:
    """One master and `workers` workers, each a JVM started with spark-class.

    daemon_java_options: JVM options of the master and the workers themselves
    (SPARK_DAEMON_JAVA_OPTS), not of the executors they start."""

    workers: int = 2
    cores: int = 1
    memory: str = "1g"
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="state-of-ai-cluster-")))
    daemon_java_options: str | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)
    port: int = 0
    webui_port: int = 0

    @property
    def url(self) -> str:
        return f"spark://{LOOPBACK}:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> Path:
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            self.processes.append(subprocess.Popen(
                [str(spark_home() / "bin" / "spark-class"), *args],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
                env=cluster_env({"SPARK_DAEMON_JAVA_OPTS": self.daemon_java_options} if self.daemon_java_options else None),
                start_new_session=True,  # its own process group: stop() kills the JVM and its children
            ))
        return log

    @staticmethod
    def _wait_for(log: Path, text: str, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and text in log.read_text(errors="replace"):
                return
            time.sleep(0.3)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise PipelineError(f"{what} did not start within {timeout:.0f}s; log tail: {tail!r}")

    def start(self) -> StandaloneCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port, self.webui_port = free_port(), free_port()
        master_log = self._spawn("master", [
            "org.apache.spark.deploy.master.Master",
            "--host", LOOPBACK, "--port", str(self.port), "--webui-port", str(self.webui_port),
        ])
        self._wait_for(master_log, "I have been elected leader", "the Spark master")
        for i in range(self.workers):
            work_dir = self.root / f"worker-{i}"
            work_dir.mkdir(parents=True, exist_ok=True)
            log = self._spawn(f"worker-{i}", [
                "org.apache.spark.deploy.worker.Worker", self.url,
                "--host", LOOPBACK, "--cores", str(self.cores), "--memory", self.memory,
                "--work-dir", str(work_dir), "--webui-port", str(free_port()),
            ])
            self._wait_for(log, "Successfully registered with master", f"worker {i}")
        return self

    def executor_pids(self) -> list[int]:
        """The executor JVMs running under this cluster's workers (by their working folder)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if b"CoarseGrainedExecutorBackend" in cmdline and cwd.startswith(str(self.root)):
                pids.append(int(entry.name))
        return sorted(pids)

    def stop(self) -> None:
        for proc in self.processes:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # executors are children of the workers but in their own sessions on some systems
        for pid in self.executor_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.processes.clear()

    def __enter__(self) -> StandaloneCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def submit_command(master: str, py_files: Path, launcher: Path, job_args: list[str], *,
                   executor_memory: str = "1g", driver_memory: str = "2g",
                   extra_conf: dict | None = None, python_env: Path | None = None,
                   driver_python: str | None = None) -> list[str]:
    """The `spark-submit` command line of the zipped project (Delta from Maven through --packages).

    python_env: the packed environment (tools.package.build_env), shipped with --archives
    and used by every Python process Spark starts; driver_python: the client-mode
    driver's interpreter (in cluster deploy mode the driver uses the archive's too).
    """
    from jobs.common.session import DELTA_EXCLUDES, delta_package
    from tools.package import ENV_ALIAS, ENV_PYTHON

    conf = {"spark.executor.memory": executor_memory, "spark.ui.showConsoleProgress": "false",
            **({"spark.pyspark.python": ENV_PYTHON} if python_env else {}),
            **({"spark.pyspark.driver.python": driver_python} if driver_python else {}),
            **(extra_conf or {})}
    return [
        str(spark_home() / "bin" / "spark-submit"), "--master", master,
        "--driver-memory", driver_memory,
        "--packages", delta_package(), "--exclude-packages", DELTA_EXCLUDES, "--py-files", str(py_files),
        *(["--archives", f"{python_env}#{ENV_ALIAS}"] if python_env else []),
        *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")],
        str(launcher), *job_args,
    ]


def spark_submit(master: str, py_files: Path, launcher: Path, job_args: list[str], *,
                 env: dict | None = None, cwd: Path | None = None, popen: dict | None = None,
                 **submit) -> subprocess.Popen:
    """Start `spark-submit` of the zipped project; `submit` goes to submit_command."""
    command = submit_command(master, py_files, launcher, job_args, **submit)
    return subprocess.Popen(command, env=cluster_env(env), cwd=cwd, **(popen or {}))


def main(argv=None) -> int:
    """Start a loopback cluster and keep it up until interrupted."""
    parser = OneLineParser(prog="tools.standalone", description="A Spark standalone cluster on 127.0.0.1.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="2g", help="memory per worker")
    args = parse(parser, argv)

    def body():
        with StandaloneCluster(args.workers, args.cores, args.memory) as cluster:
            print(f"master {cluster.url} (web UI http://{LOOPBACK}:{cluster.webui_port}); logs in {cluster.root}",
                  flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("stopping", flush=True)

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
