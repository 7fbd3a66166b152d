"""The benchmark: every stage of the pipeline at 2M and 10M requests, timed and measured,
against a single-node engine doing the same work.

    python -m tools.bench [--sizes 2000000,10000000] [--cluster N] [--out bench/results.md]

Each size's synthetic year is generated once into bench/data/<size> and reused while
its _manifest.json says the same size. The pipeline then runs from an empty warehouse
as one process (`python -m jobs.pipeline`, local[2] from conf/local.yaml), the way a
user runs it; its stage lines give the wall time of each stage, and the resident
memory of its whole process tree (Python driver, JVM, Python workers) is sampled
twice a second and attributed to the stage running at the time. After each local run,
`tools.baseline` (DuckDB) computes the headline tables from the same files, timed in
the same process, and its weekly segment tokens are compared with the pipeline's
gold: the ratio of the two times is the figure to watch. With --cluster the
same pipeline on N requests is also submitted to a loopback standalone cluster (two
workers of one core each, sharing the machine's two cores with the driver). The results go to bench/results.md, one table per run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from jobs.common.cli import (
    PROJECT_ROOT,
    STAGES,
    OneLineParser,
    PipelineError,
    exit_with,
    parse,
    run_cli,
)

BENCH_DIR = PROJECT_ROOT / "bench"
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc).

    A child that still runs its parent's command line is a fork that has not exec'd
    yet (the JVM forks to run `chmod`, `bash` and the like): its pages are the
    parent's, shared copy-on-write, so it is counted once, in the parent.
    """
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    argv: dict[int, bytes] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                command = fh.read()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1]: the parent pid
        rss[pid] = int(fields[21]) * PAGE  # fields[21]: resident pages
        argv[pid] = command
    total, todo = 0, [(root_pid, True)]
    while todo:
        pid, counted = todo.pop()
        total += rss.get(pid, 0) if counted else 0
        # a fork of pid that has not exec'd yet: its own children are still looked at
        todo += [(child, not (argv.get(child) and argv.get(child) == argv.get(pid))) for child in children.get(pid, [])]
    return total


@dataclass
class StageRun:
    """What one run of the pipeline measured."""

    label: str
    requests: int
    seconds: dict[str, float] = field(default_factory=dict)
    peak_bytes: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    lines: list[str] = field(default_factory=list)
    baseline: float | None = None  # DuckDB's seconds for the headline tables on the same files
    agreement: str = ""  # how DuckDB's weekly segment shares compare with the pipeline's gold

    @property
    def rows_read(self) -> int:
        for line in self.lines:
            match = re.match(r"ingest events: read=(\d+)", line)
            if match:
                return int(match.group(1))
        return self.requests

    @property
    def silver_scans(self) -> str:
        for line in self.lines:
            match = re.search(r"silver scanned (\d+) time", line)
            if match:
                return match.group(1)
        return "?"


def run_measured(command: list[str], label: str, requests: int, env: dict | None = None,
                 cwd: Path | None = None, other_pids: list[int] | None = None) -> StageRun:
    """Run a pipeline command; time its stages and sample its memory per stage (with the
    process trees of other_pids, e.g. a cluster's workers and their executors)."""
    result = StageRun(label, requests)
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd or PROJECT_ROOT)
    current = {"stage": STAGES[0]}
    done = threading.Event()

    def sample():
        while not done.is_set():
            stage = current["stage"]
            used = sum(tree_rss(pid) for pid in [proc.pid, *(other_pids or [])])
            result.peak_bytes[stage] = max(result.peak_bytes.get(stage, 0), used)
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr_lines: list[str] = []
    drain = threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True)
    drain.start()
    for line in proc.stdout:
        line = line.rstrip("\n")
        result.lines.append(line)
        print(f"  {line}", flush=True)
        match = re.match(r"pipeline: (\w+) done in ([0-9.]+)s", line)
        if match:
            result.seconds[match.group(1)] = float(match.group(2))
            following = STAGES.index(match.group(1)) + 1
            current["stage"] = STAGES[following] if following < len(STAGES) else "end"
    code = proc.wait()
    done.set()
    sampler.join()
    drain.join()
    result.wall = time.perf_counter() - started
    if code != 0:
        raise PipelineError(f"bench: {label} failed with exit status {code}: {''.join(stderr_lines)[-500:]}")
    return result


def ensure_data(requests: int, data_dir: Path) -> tuple[Path, float | None]:
    """The cached synthetic year of this size; generate it when missing. Returns (folder, seconds or None)."""
    folder = data_dir / f"{requests}"
    manifest = folder / "_manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("requests") == requests:
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jobs.generate", "--requests", str(requests), "--out", str(folder)],
                   cwd=PROJECT_ROOT, check=True)
    return folder, time.perf_counter() - started


def pipeline_args(data: Path, wh: Path) -> list[str]:
    return ["--events", str(data / "events"), "--labels", str(data / "labels"), "--warehouse", str(wh)]


def local_run(requests: int, data: Path, work: Path) -> StageRun:
    """The pipeline in local[2] from an empty warehouse, then the DuckDB baseline on the same files."""
    wh = work / f"local-{requests}"
    shutil.rmtree(wh, ignore_errors=True)
    run = run_measured([sys.executable, "-m", "jobs.pipeline", *pipeline_args(data, wh)],
                       f"local[2], {requests:,} requests", requests)
    run.baseline, run.agreement = run_baseline(data, wh)
    print(f"  baseline: DuckDB {run.baseline:.1f}s; {run.agreement}", flush=True)
    shutil.rmtree(wh, ignore_errors=True)
    return run


def run_baseline(data: Path, wh: Path) -> tuple[float, str]:
    """Time tools.baseline (DuckDB, every core) on the year's files, and compare its weekly
    segment tokens with the pipeline's gold table: the two did the same work."""
    import duckdb
    from deltalake import DeltaTable

    from tools import baseline

    con = duckdb.connect()
    result = baseline.run(str(data / "events"), str(data / "labels"), con=con)
    ours = DeltaTable(str(wh / "gold" / "weekly_segment_share")).to_pyarrow_table(
        columns=["week_start", "segment", "tokens", "share"])
    con.from_arrow(ours).create_view("gold_segment_share")
    keys, same_tokens, max_diff = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE d.tokens = g.tokens), max(abs(d.share - g.share))
        FROM weekly_segment_share d FULL JOIN gold_segment_share g USING (week_start, segment)
    """).fetchone()
    agreement = (f"weekly segment tokens equal in {same_tokens:,} of {keys:,} (week, segment) rows, "
                 f"largest share difference {max_diff or 0.0:.2g}")
    return result.total, agreement


def cluster_run(requests: int, data: Path, work: Path) -> StageRun:
    """The pipeline under spark-submit on a loopback standalone cluster: 2 workers x 1 core."""
    from tools import package
    from tools.standalone import StandaloneCluster, cluster_env, submit_command

    wh = work / f"cluster-{requests}"
    shutil.rmtree(wh, ignore_errors=True)
    archive, launcher = package.build(work / "dist")
    with StandaloneCluster(workers=2, cores=1, memory="7g", root=work / "cluster") as cluster:
        command = submit_command(cluster.url, archive, launcher, [
            "pipeline", "--conf", str(PROJECT_ROOT / "conf" / "cluster.yaml"), "--shuffle-partitions", "8",
            *pipeline_args(data, wh),
        ], executor_memory="6g", driver_memory="4g")
        env = cluster_env({"STATE_OF_AI_ACCOUNT_KEY": os.environ.get("STATE_OF_AI_ACCOUNT_KEY", "bench-key")})
        run = run_measured(command, f"standalone cluster (2 workers x 1 core), {requests:,} requests", requests,
                           env=env, cwd=work, other_pids=[p.pid for p in cluster.processes])
    shutil.rmtree(wh, ignore_errors=True)
    return run


def table(run: StageRun) -> list[str]:
    rows = run.rows_read
    lines = [
        f"### {run.label}",
        "",
        "| stage | wall time (s) | input rows per second | peak memory (GiB) |",
        "|---|---:|---:|---:|",
    ]
    for stage in STAGES:
        seconds = run.seconds.get(stage, float("nan"))
        lines.append(f"| {stage} | {seconds:.1f} | {rows / seconds:,.0f} | "
                     f"{run.peak_bytes.get(stage, 0) / 2**30:.2f} |")
    total = sum(run.seconds.get(s, 0.0) for s in STAGES)
    lines += [
        f"| **raw files to gold** | **{total:.1f}** | **{rows / total:,.0f}** | "
        f"{max(run.peak_bytes.values(), default=0) / 2**30:.2f} |",
        "",
        f"Process wall time, Spark start-up included: {run.wall:.1f} s. Input rows: {rows:,} "
        f"({run.requests:,} requests plus the planted duplicates and messy rows). "
        f"Silver scanned {run.silver_scans} time(s) for all gold tables.",
        "",
    ]
    if run.baseline:
        lines += [
            f"DuckDB baseline (`tools.baseline`: the same files to the headline tables, in memory): "
            f"**{run.baseline:.1f} s**; raw files to gold is **{total / run.baseline:.1f}x** that "
            f"({run.wall / run.baseline:.1f}x with Spark's start-up). Check: {run.agreement}.",
            "",
        ]
    return lines


def write_results(out: Path, runs: list[StageRun], generated: dict[int, float | None], command: str) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PHYS_PAGES') * PAGE / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"with `{command}`.",
        "Stage times are the pipeline's own (`pipeline: <stage> done in ...`); peak memory is the resident "
        "memory of the driver's whole process tree (and on the cluster, of the master, workers and "
        "executors) while the stage ran.",
        "",
    ]
    for requests, seconds in generated.items():
        note = f"generated in {seconds:.1f} s" if seconds is not None else "cached from an earlier run"
        lines.append(f"- {requests:,} requests: synthetic year {note}.")
    lines.append("")
    for run in runs:
        lines += table(run)
    local = [r for r in runs if r.label.startswith("local")]
    if len(local) >= 2:
        small, large = local[0], local[-1]
        cost = [sum(r.seconds.values()) / r.rows_read * 1e6 for r in (small, large)]
        lines += [
            "### Cost per request",
            "",
            f"Seconds per million input rows, raw files to gold: {cost[0]:.1f} at {small.requests:,} requests, "
            f"{cost[1]:.1f} at {large.requests:,} ({cost[1] / cost[0]:.2f}x).",
            "",
        ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = OneLineParser(prog="tools.bench", description="Benchmark the pipeline stages.")
    parser.add_argument("--sizes", default="2000000,10000000", help="comma-separated request counts")
    parser.add_argument("--cluster", type=int, metavar="N",
                        help="also run N requests (one of --sizes) on a loopback standalone cluster")
    parser.add_argument("--data", default=str(BENCH_DIR / "data"), help="cache of generated years")
    parser.add_argument("--work", default=str(BENCH_DIR / "warehouse"), help="scratch warehouses")
    parser.add_argument("--out", default=str(BENCH_DIR / "results.md"))
    args = parse(parser, argv)

    def body():
        try:
            sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
        except ValueError as exc:
            raise PipelineError(f"--sizes: not a list of integers: {args.sizes}") from exc
        data_dir, work = Path(args.data), Path(args.work)
        runs, generated = [], {}
        for requests in sizes:
            data, generated[requests] = ensure_data(requests, data_dir)
            print(f"bench: {requests:,} requests, local[2]", flush=True)
            runs.append(local_run(requests, data, work))
        if args.cluster:
            if args.cluster not in sizes:
                raise PipelineError(f"--cluster: {args.cluster} is not one of --sizes")
            print(f"bench: {args.cluster:,} requests, standalone cluster", flush=True)
            runs.append(cluster_run(args.cluster, data_dir / f"{args.cluster}", work))
        command = "python -m tools.bench " + " ".join(argv if argv is not None else sys.argv[1:])
        write_results(Path(args.out), runs, generated, command)
        print(f"bench: results in {args.out}", flush=True)

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
