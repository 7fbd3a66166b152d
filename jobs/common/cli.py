"""Command-line plumbing shared by every job: config loading, flags and one-line errors."""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _conf_dir(root: Path) -> Path:
    """The conf folder: root/conf in a checkout; extracted once to a temp folder when
    the project runs from the zip that spark-submit ships with --py-files."""
    if (root / "conf").is_dir() or not zipfile.is_zipfile(root):
        return root / "conf"
    stat = root.stat()
    tag = hashlib.sha256(f"{root}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"state-of-ai-conf-{tag}"
    if not (target / "conf").is_dir():
        with zipfile.ZipFile(root) as archive:
            members = [m for m in archive.namelist() if m.startswith("conf/")]
            staging = Path(tempfile.mkdtemp(prefix="state-of-ai-conf-"))
            archive.extractall(staging, members)
        try:
            staging.rename(target)
        except OSError:  # another process extracted it first
            pass
    return target / "conf"


CONF_DIR = _conf_dir(PROJECT_ROOT)
# The pipeline's stages, in order (jobs.pipeline runs them; tools.bench times them).
STAGES = ["ingest", "enrich", "summarize"]
DEFAULT_CONF = CONF_DIR / "local.yaml"


class PipelineError(Exception):
    """A problem the user can fix (bad argument, unreadable input): printed as one line."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def base_parser(prog: str, description: str) -> OneLineParser:
    """A parser with the flags every job shares: --conf and the Spark overrides."""
    parser = OneLineParser(prog=prog, description=description)
    parser.add_argument("--conf", default=str(DEFAULT_CONF),
                        help="YAML settings (default: conf/local.yaml)")
    parser.add_argument("--master", help="Spark master, overrides the conf (e.g. local[4])")
    parser.add_argument("--driver-memory", help="driver memory, overrides the conf (e.g. 8g)")
    parser.add_argument("--shuffle-partitions", type=int,
                        help="spark.sql.shuffle.partitions, overrides the conf")
    return parser


def deep_merge(base: dict, override: dict) -> dict:
    """Return base with override merged in, recursively for nested dicts."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def conf_path(path: str | Path | None) -> Path:
    """The conf file a --conf names. A relative `conf/...` path that is not in the working
    folder is the project's own conf file: a cluster-mode driver, started in an empty
    container folder, finds `--conf conf/cluster.yaml` in the zip it runs from."""
    path = Path(path) if path else DEFAULT_CONF
    if not path.is_file() and not path.is_absolute() and path.parts[:1] == ("conf",):
        return CONF_DIR.joinpath(*path.parts[1:])
    return path


def load_conf(path: str | Path | None = None, overrides: dict | None = None) -> dict[str, Any]:
    """Read a YAML conf file (default conf/local.yaml) and apply overrides.

    A conf file other than local.yaml is merged over local.yaml, so a user's file
    only needs the values it changes.
    """
    path = conf_path(path)
    if not path.is_file():
        raise PipelineError(f"conf file not found: {path}")
    try:
        base = yaml.safe_load(DEFAULT_CONF.read_text()) or {}
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(f"conf file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(cfg, dict):
        raise PipelineError(f"conf file {path} must hold a mapping")
    merged = cfg if path.resolve() == DEFAULT_CONF.resolve() else deep_merge(base, cfg)
    return deep_merge(merged, overrides or {})


def spark_overrides(args: argparse.Namespace) -> dict:
    """The conf overrides given by the shared Spark flags."""
    spark: dict[str, Any] = {}
    if getattr(args, "master", None):
        spark["master"] = args.master
    if getattr(args, "driver_memory", None):
        spark["driver_memory"] = args.driver_memory
    if getattr(args, "shuffle_partitions", None):
        spark["shuffle_partitions"] = args.shuffle_partitions
    return {"spark": spark} if spark else {}


def date_flag(value: str | None, flag: str) -> dt.date | None:
    """A YYYY-MM-DD flag's date (None when not given); anything else is a one-line error."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise PipelineError(f"{flag}: not a date (YYYY-MM-DD): {value}") from exc


def run_cli(body: Callable[[], int | None]) -> int:
    """Run a job body; a PipelineError becomes a one-line message and exit status 1."""
    try:
        return body() or 0
    except PipelineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as exc:
        # Delta's conflict errors (another run committed to the same table first) are
        # expected when runs overlap: one line, not a traceback. Anything else is a bug.
        if not type(exc).__module__.startswith("delta.exceptions"):
            raise
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        sys.stderr.write(f"error: another run committed to the same Delta table first; run this one again ({first})\n")
        return 1


def exit_with(code: int) -> NoReturn:
    """Flush and exit; kept in one place so every job ends the same way."""
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(code)


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse argv (sys.argv[1:] when None)."""
    return parser.parse_args(list(argv) if argv is not None else None)
