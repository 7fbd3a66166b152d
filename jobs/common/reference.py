"""Load the reference dimensions (model catalog, taxonomy rules, regions) from conf CSVs.

They are a few hundred rows, read on the driver with the csv module and turned
into small DataFrames with explicit schemas: this works the same in local mode and
on a cluster, where executors cannot see the driver's conf folder.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from jobs.common.cli import CONF_DIR, PipelineError
from jobs.common.session import local_frame

MODELS_SCHEMA = T.StructType([
    T.StructField("model", T.StringType(), False),
    T.StructField("author", T.StringType(), False),
    T.StructField("name", T.StringType(), True),
    T.StructField("release_date", T.DateType(), True),
    T.StructField("open_weights", T.BooleanType(), False),
    T.StructField("origin_country", T.StringType(), True),
    T.StructField("params_total_b", T.DoubleType(), True),
    T.StructField("params_active_b", T.DoubleType(), True),
    T.StructField("reasoning", T.BooleanType(), False),
    T.StructField("supports_tools", T.BooleanType(), False),
    T.StructField("price_prompt_per_mtok", T.DoubleType(), True),
    T.StructField("price_completion_per_mtok", T.DoubleType(), True),
    T.StructField("price_cache_read_per_mtok", T.DoubleType(), True),
])
TAXONOMY_SCHEMA = T.StructType([
    T.StructField("prefix", T.StringType(), False),
    T.StructField("bucket", T.StringType(), False),
])
REGIONS_SCHEMA = T.StructType([
    T.StructField("country", T.StringType(), False),
    T.StructField("region", T.StringType(), False),
])
REQUIRED_MODEL_COLUMNS = ["model", "author", "open_weights", "origin_country", "reasoning"]


def _read(path: Path, what: str) -> list[dict]:
    if not path.is_file():
        raise PipelineError(f"{what}: no such file: {path}")
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _bool(value: str, where: str) -> bool:
    text = (value or "").strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise PipelineError(f"{where}: not a boolean: {value!r}")


def _float(value: str, where: str) -> float | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError as exc:
        raise PipelineError(f"{where}: not a number: {value!r}") from exc


def model_rows(path: Path) -> list[tuple]:
    """Parse and check a catalog CSV (CONTRACT 1.3); a `:variant` slug is reduced to its base."""
    rows = _read(path, "--models")
    if rows and (missing := [c for c in REQUIRED_MODEL_COLUMNS if c not in rows[0]]):
        raise PipelineError(f"--models {path}: missing column(s) {', '.join(missing)}")
    out, seen = [], set()
    for i, r in enumerate(rows, start=2):
        where = f"--models {path.name} line {i}"
        model = r["model"].strip().lower().split(":", 1)[0]
        if not model or model in seen:
            continue
        seen.add(model)
        release = r.get("release_date", "").strip()
        out.append((
            model, r["author"].strip() or model.split("/")[0], r.get("name"),
            dt.date.fromisoformat(release) if release else None,
            _bool(r["open_weights"], where), (r["origin_country"] or "ZZ").strip().upper(),
            _float(r.get("params_total_b", ""), where), _float(r.get("params_active_b", ""), where),
            _bool(r["reasoning"], where), _bool(r.get("supports_tools", ""), where),
            _float(r.get("price_prompt_per_mtok", ""), where),
            _float(r.get("price_completion_per_mtok", ""), where),
            _float(r.get("price_cache_read_per_mtok", ""), where),
        ))
    return out


def load_models(spark: SparkSession, path: str | Path | None = None) -> DataFrame:
    """The model catalog as a small DataFrame (default conf/models.csv)."""
    return local_frame(spark, model_rows(Path(path or CONF_DIR / "models.csv")), MODELS_SCHEMA)


def load_taxonomy(spark: SparkSession, path: str | Path | None = None) -> DataFrame:
    """Taxonomy prefix rules (default conf/taxonomy.csv)."""
    rows = _read(Path(path or CONF_DIR / "taxonomy.csv"), "taxonomy")
    return local_frame(spark, [(r["prefix"], r["bucket"]) for r in rows], TAXONOMY_SCHEMA)


def load_regions(spark: SparkSession, path: str | Path | None = None) -> DataFrame:
    """Country -> region (default conf/regions.csv)."""
    rows = _read(Path(path or CONF_DIR / "regions.csv"), "regions")
    return local_frame(spark, [(r["country"], r["region"]) for r in rows], REGIONS_SCHEMA)


ALIAS_SCHEMA = T.StructType([
    T.StructField("alias", T.StringType(), False),
    T.StructField("target", T.StringType(), False),
])


def alias_rows(models: list[tuple], path: Path) -> list[tuple[str, str]]:
    """Name -> catalog slug: every slug itself, every unambiguous bare name (`gpt-4o-mini` ->
    `openai/gpt-4o-mini`), then the alias table, which wins over a bare-name match."""
    slugs = [m[0] for m in models]
    out: dict[str, str] = {s: s for s in slugs}
    by_name: dict[str, list[str]] = {}
    for slug in slugs:
        by_name.setdefault(slug.split("/", 1)[1], []).append(slug)
    for name, targets in by_name.items():
        if len(targets) == 1 and name not in out:
            out[name] = targets[0]
    known = set(slugs)
    skipped = []
    for r in _read(path, "model aliases"):
        alias, target = r["alias"].strip().lower(), r["model"].strip().lower()
        if target not in known:  # a catalog of the user's own need not hold every alias target
            skipped.append(f"{alias} -> {target}")
            continue
        out[alias] = target
    if skipped:
        print(f"warning: {len(skipped)} model aliases in {path.name} name models not in the catalog and are "
              f"skipped: {', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''}", flush=True)
    return sorted(out.items())


def load_aliases(spark: SparkSession, models_path: str | Path | None = None,
                 aliases_path: str | Path | None = None) -> DataFrame:
    """The alias table (default conf/model_aliases.csv) plus the catalog's own names, as a small DataFrame."""
    models = model_rows(Path(models_path or CONF_DIR / "models.csv"))
    rows = alias_rows(models, Path(aliases_path or CONF_DIR / "model_aliases.csv"))
    return local_frame(spark, rows, ALIAS_SCHEMA)
