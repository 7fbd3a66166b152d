"""Build what spark-submit ships to a cluster: the project as one zip, and a launcher.

    python -m jobs.package [--out dist]

writes `dist/state_of_ai.zip` (the jobs, transforms and figures packages and the
conf folder) and `dist/main.py`, which runs any job by name:

    spark-submit --master spark://HOST:7077 \\
        --packages io.delta:delta-spark_4.1_2.13:4.3.1 \\
        --exclude-packages <package.DELTA_EXCLUDES: jars Spark already has> \\
        --py-files dist/state_of_ai.zip \\
        dist/main.py pipeline --conf conf/cluster.yaml --events ... --warehouse ...

The zip is deterministic: the same sources give the same bytes.
"""

from __future__ import annotations

import zipfile
from importlib import metadata
from pathlib import Path

from jobs.cli import PROJECT_ROOT, OneLineParser, exit_with, parse, run_cli

PACKAGES = ["jobs", "transforms", "figures"]
DATA = ["conf"]
ZIP_NAME = "state_of_ai.zip"
SCALA_VERSION = "2.13"  # every Spark 4 build


def delta_package() -> str:
    """Delta's Maven coordinate for the installed delta-spark and pyspark, built as
    `configure_spark_with_delta_pip` builds it (delta-spark_<spark major.minor>_<scala>),
    so setup.cfg's pins are the one place the versions live."""
    spark = ".".join(metadata.version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark}_{SCALA_VERSION}:{metadata.version('delta-spark')}"


DELTA_PACKAGE = delta_package()

# What Delta 4.3's POM drags in besides Delta itself (33 jars): most are already on
# Spark's own classpath (Jackson, Hadoop's client, Parquet, log4j, slf4j, the
# compression codecs), where they win anyway (parent-first class loading). Leaving
# them out of the resolution keeps start-up quieter and saves every executor of a
# cluster from fetching ~60 MB of duplicate jars. spark.jars.excludes / --exclude-packages.
SPARK_PROVIDED = [
    "com.fasterxml.jackson.core:jackson-annotations", "com.fasterxml.jackson.core:jackson-core",
    "com.fasterxml.jackson.core:jackson-databind", "com.github.luben:zstd-jni", "com.google.code.findbugs:jsr305",
    "commons-pool:commons-pool", "io.airlift:aircompressor", "org.apache.hadoop:hadoop-client-api",
    "org.apache.hadoop:hadoop-client-runtime", "org.apache.logging.log4j:log4j-api",
    "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-slf4j2-impl",
    "org.apache.parquet:parquet-column", "org.apache.parquet:parquet-common", "org.apache.parquet:parquet-encoding",
    "org.apache.parquet:parquet-format-structures", "org.apache.parquet:parquet-hadoop",
    "org.apache.parquet:parquet-jackson", "org.locationtech.jts:jts-core", "org.roaringbitmap:RoaringBitmap",
    "org.roaringbitmap:shims", "org.slf4j:slf4j-api", "org.xerial.snappy:snappy-java",
]
DELTA_EXCLUDES = ",".join(SPARK_PROVIDED)

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
JOBS = ["generate", "ingest", "enrich", "summarize", "pipeline", "plot", "export"]


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


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = OneLineParser(prog="jobs.package", description="Build the zip and launcher for spark-submit.")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "dist"), help="output folder (default: dist)")
    args = parse(parser, argv)

    def body():
        archive, launcher = build(Path(args.out))
        print(f"package: {archive} ({archive.stat().st_size // 1024} KiB), {launcher}")

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
