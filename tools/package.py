"""Build what spark-submit ships to a cluster: the project as one zip, a launcher, and
the Python environment the jobs import.

    python -m tools.package [--out dist] [--no-env] [--python-prefix /usr]

writes `dist/state_of_ai.zip` (the jobs, transforms and figures packages and the
conf folder), `dist/main.py`, which runs any Spark job by name, and
`dist/state_of_ai_env.tar.gz`, a packed virtual environment (venv-pack, as Spark's
Python packaging guide shows) with the Python packages the jobs import on a driver or
executor, at the versions installed here:

    spark-submit --master yarn --deploy-mode cluster \\
        --packages io.delta:delta-spark_4.1_2.13:4.3.1 \\
        --exclude-packages <session.DELTA_EXCLUDES: jars Spark already has> \\
        --archives dist/state_of_ai_env.tar.gz#environment \\
        --conf spark.pyspark.python=./environment/bin/python \\
        --py-files dist/state_of_ai.zip \\
        dist/main.py pipeline --conf conf/cluster.yaml --events ... --warehouse ...

The zip is deterministic: the same sources give the same bytes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from jobs.common.cli import PROJECT_ROOT, OneLineParser, PipelineError, exit_with, parse, run_cli

PACKAGES = ["jobs", "transforms", "figures"]
DATA = ["conf"]
ZIP_NAME = "state_of_ai.zip"
ENV_NAME = "state_of_ai_env.tar.gz"
# The folder spark-submit unpacks the environment into (--archives ENV#environment),
# in the working folder of the driver (cluster deploy mode) and of every executor.
ENV_ALIAS = "environment"
ENV_PYTHON = f"./{ENV_ALIAS}/bin/python"
PROJECT = "state-of-ai"
# The project's requirements the environment leaves out, and why: it carries what the
# Spark jobs import (pyyaml, numpy, scipy, pandas, pyarrow, delta-spark's Python API),
# nothing else. pyarrow is the driver's: jobs.common.session.local_frame hands the small
# tables the driver builds to the JVM as Arrow batches.
ENV_LEAVES_OUT = {
    "pyspark": "the cluster's Spark provides it (spark-submit puts its pyspark.zip and py4j on the path)",
    "matplotlib": "the report is drawn off the cluster: jobs.plot needs no Spark",
    "deltalake": "jobs.plot and jobs.export read gold with delta-rs, off the cluster",
}

LAUNCHER = '''"""spark-submit entry point: `spark-submit --py-files state_of_ai.zip main.py JOB [ARGS]`.

JOB is one of: {jobs}. The jobs come from the zip on the Python path.
"""

import importlib
import sys

JOBS = {jobs!r}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in JOBS:
        sys.stderr.write("usage: main.py JOB [ARGS]; JOB is one of " + ", ".join(JOBS) + "\\n")
        raise SystemExit(2)
    job = importlib.import_module("jobs." + sys.argv[1])
    code = job.main(sys.argv[2:])
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(code)
'''
# The jobs that run on Spark (jobs.plot and jobs.export read gold without it, anywhere).
JOBS = ["generate", "ingest", "enrich", "summarize", "pipeline", "maintain"]


def project_files(root: Path = PROJECT_ROOT) -> list[tuple[Path, str]]:
    """(file, name in the zip) for every source and conf file, sorted."""
    files = []
    for folder in PACKAGES:
        files += [p for p in (root / folder).rglob("*.py") if "__pycache__" not in p.parts]
    for folder in DATA:
        files += [p for p in (root / folder).rglob("*") if p.is_file()]
    return sorted((p, p.relative_to(root).as_posix()) for p in files)


def build(out: Path) -> tuple[Path, Path]:
    """Write the zip and the launcher into out; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    archive = out / ZIP_NAME
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, name in project_files():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    launcher = out / "main.py"
    launcher.write_text(LAUNCHER.format(jobs=JOBS), encoding="utf-8")
    return archive, launcher


def env_requirements(project: str = PROJECT) -> list[str]:
    """`name==version` for every distribution the project needs at run time (its install
    requirements and theirs, markers evaluated here), as installed in this environment,
    less ENV_LEAVES_OUT: the versions the tests ran with, with no resolver involved."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    leave_out = {canonicalize_name(name) for name in ENV_LEAVES_OUT}
    pinned: dict[str, str] = {}
    todo = [project]
    while todo:
        name = todo.pop()
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            key = canonicalize_name(req.name)
            if key in leave_out or key in pinned or (req.marker and not req.marker.evaluate({"extra": ""})):
                continue
            try:
                pinned[key] = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                raise PipelineError(f"{req.name} (required by {name}) is not installed; run make venv") from None
            todo.append(req.name)
    return sorted(f"{key}=={version}" for key, version in pinned.items())


def build_env(out: Path, python_prefix: str | None = None) -> Path:
    """Pack a fresh virtual environment holding env_requirements() into out/ENV_NAME.

    The environment links to this machine's Python (venv-pack does not copy an
    interpreter): a node needs the same Python version at the same path, or at
    python_prefix (e.g. /usr for an image whose python3.11 is /usr/bin/python3.11).
    """
    import venv_pack

    out.mkdir(parents=True, exist_ok=True)
    target = out / ENV_NAME
    base_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(prefix="state-of-ai-env-") as tmp:
        env = Path(tmp) / "env"
        steps = [
            [str(base_python), "-m", "venv", "--without-pip", str(env)],
            [sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "--quiet",
             "--disable-pip-version-check", "--no-deps", "--only-binary", ":all:", *env_requirements()],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                raise PipelineError(f"building the environment failed at `{' '.join(step[:4])} ...`: {last}")
        venv_pack.pack(prefix=str(env), output=str(target), python_prefix=python_prefix, force=True)
    target.chmod(0o644)
    return target


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = OneLineParser(prog="tools.package", description="Build what spark-submit ships to a cluster.")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "dist"), help="output folder (default: dist)")
    parser.add_argument("--no-env", action="store_true", help="only the zip and the launcher")
    parser.add_argument("--python-prefix", help="where the nodes' Python lives, if not where it is here (e.g. /usr)")
    args = parse(parser, argv)

    def body():
        archive, launcher = build(Path(args.out))
        print(f"package: {archive} ({archive.stat().st_size // 1024} KiB), {launcher}")
        if not args.no_env:
            env = build_env(Path(args.out), args.python_prefix)
            print(f"package: {env} ({env.stat().st_size // 2**20} MiB; "
                  f"left out: {', '.join(ENV_LEAVES_OUT)}; see ENV_LEAVES_OUT)")

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
