"""A synthetic year of gateway traffic, calibrated to the study, at any scale.

    python -m jobs.generate --requests N --out DIR [--seed S] [--format jsonl|parquet]
        [--label-rate R] [--mess-rate M] [--partitions P] [--compress]

Writes DIR/events and DIR/labels per CONTRACT section 1, and DIR/_manifest.json
with the parameters and the figures the plan implies. Rows come from
`spark.range(N)` and built-in column functions only (no driver loop over rows);
every draw hashes (seed, purpose, id), so the data do not depend on partitioning.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import reference
from jobs.common.cli import (
    CONF_DIR,
    PipelineError,
    base_parser,
    exit_with,
    load_conf,
    parse,
    run_cli,
    spark_overrides,
)
from jobs.common.session import build_session, local_frame
from transforms import enrich
from transforms.synthetic import rows as synthetic
from transforms.synthetic.plan import ModelInfo, Plan, alias_table, build_plan, mix, normalised

ALIAS_SCHEMA = "slot int, threshold double, primary string, alias string"


def load_params(path: str | Path | None = None) -> dict:
    """The generator parameters (default conf/generator.yaml)."""
    path = Path(path or CONF_DIR / "generator.yaml")
    if not path.is_file():
        raise PipelineError(f"generator parameters not found: {path}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def catalog_info(models_csv: str | None = None) -> dict[str, ModelInfo]:
    """The catalog as the plan needs it (prices per 1M tokens; cache price when listed)."""
    out = {}
    for row in reference.model_rows(Path(models_csv or CONF_DIR / "models.csv")):
        r = dict(zip(reference.MODELS_SCHEMA.fieldNames(), row, strict=True))
        out[r["model"]] = ModelInfo(
            r["model"], r["author"], r["release_date"], r["open_weights"], r["origin_country"], r["reasoning"],
            r["supports_tools"], r["price_prompt_per_mtok"] or 0.0, r["price_completion_per_mtok"] or 0.0,
            r["price_cache_read_per_mtok"],
        )
    return out


def _alias_rows(key: tuple, probs: dict, n_slots: int) -> list[tuple]:
    return [(*key, slot, thr, str(p), str(a)) for slot, thr, p, a in alias_table(probs, n_slots)]


def taxonomy_paths(spark: SparkSession) -> dict[str, list[str]]:
    """The real Google NL v2 paths of each study bucket (in the file's order), by the rule
    enrich applies to labels (transforms.enrich.taxonomy_bucket: the longest prefix)."""
    paths = [p for p in (CONF_DIR / "google_nl_content_categories_v2.txt").read_text(encoding="utf-8").splitlines()
             if p]
    frame = local_frame(spark, list(enumerate(paths)), "position int, category_path string")
    rows = enrich.taxonomy_bucket(frame, reference.load_taxonomy(spark)).collect()  # one row per path: ~600
    out: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda r: r["position"]):
        out.setdefault(row["category"], []).append(row["category_path"])
    return out


def plan_tables(spark: SparkSession, plan: Plan, params: dict) -> dict:
    """The plan as small DataFrames (alias tables and model attributes) and their slot counts."""
    cal = plan.calendar
    k_model = max(len(p) for p in plan.model_probs)
    model_rows = [r for w, probs in enumerate(plan.model_probs) for r in _alias_rows((w,), probs, k_model)]
    k_cat = max(len(p) for p in plan.category_probs.values())
    cat_rows = [r for (fam, mo), probs in plan.category_probs.items() for r in _alias_rows((fam, mo), probs, k_cat)]
    k_cohort = max(len(c) for c in plan.cohorts.values())
    cohort_rows = [
        r for (m, mo), cells in plan.cohorts.items()
        for r in _alias_rows((m, mo), {f"{c}|{n}": w for c, w, n in cells}, k_cohort)
    ]
    regions = params["regions"]
    k_region = len(set(regions["early"]) | set(regions["late"]))
    region_rows = [r for mo in range(cal.n_months)
                   for r in _alias_rows((mo,), mix(regions["early"], regions["late"], cal.month_frac(mo)), k_region)]
    k_country = max(len(c) for c in params["countries"].values())
    country_rows = [r for reg, probs in params["countries"].items() for r in _alias_rows((reg,), probs, k_country)]

    by_bucket = taxonomy_paths(spark)
    subs = params.get("subcategories", {})
    path_probs = {}
    for bucket, paths in by_bucket.items():
        named = {p: s for p, s in subs.get(bucket, {}).items() if p in paths}
        rest = [p for p in paths if p not in named]
        left = max(0.0, 1.0 - sum(named.values()))
        path_probs[bucket] = {**named, **{p: left / len(rest) for p in rest}} if rest else normalised(named)
    k_path = max(len(p) for p in path_probs.values())
    path_rows = [r for b, probs in path_probs.items() for r in _alias_rows((b,), probs, k_path)]
    all_paths = [p for ps in by_bucket.values() for p in ps]
    any_rows = _alias_rows((), {p: 1.0 for p in all_paths}, len(all_paths))

    attrs = [
        (m, i.author, plan.family_of[m], i.open_weights, i.reasoning, i.supports_tools,
         i.price_prompt, i.price_completion, i.price_cache, i.price_cache is not None)
        for m, i in plan.models.items()
    ]

    def df(rows, schema):
        return local_frame(spark, rows, schema)

    return {
        "model": (df(model_rows, f"week_idx int, {ALIAS_SCHEMA}"), k_model),
        "category": (df(cat_rows, f"family string, month_idx int, {ALIAS_SCHEMA}"), k_cat),
        "cohort": (df(cohort_rows, f"model string, month_idx int, {ALIAS_SCHEMA}"), k_cohort),
        "region": (df(region_rows, f"cohort_idx int, {ALIAS_SCHEMA}"), k_region),
        "country": (df(country_rows, f"_region string, {ALIAS_SCHEMA}"), k_country),
        "path": (df(path_rows, f"category string, {ALIAS_SCHEMA}"), k_path),
        "any_path": (df(any_rows, ALIAS_SCHEMA), len(all_paths)),
        "price_step": df([(m, w, f) for m, weeks in plan.price_steps.items() for w, f in enumerate(weeks) if f != 1.0],
                         "model string, week_idx int, price_step double"),
        "attributes": df(attrs, "model string, author string, family string, open_weights boolean, "
                                "is_reasoning boolean, supports_tools boolean, price_prompt double, "
                                "price_completion double, price_cache double, has_cache_price boolean"),
    }


def requests(base: DataFrame, plan: Plan, tables: dict, params: dict, seed: int) -> DataFrame:
    """Per-request columns up to the account (shared by events and labels)."""
    cal = plan.calendar
    epoch = lambda d: int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp())  # noqa: E731
    top = params["tool_calls"]["top_account"]
    model_t, k_model = tables["model"]
    cat_t, k_cat = tables["category"]
    cohort_t, k_cohort = tables["cohort"]
    timed = synthetic.with_time(base, seed, epoch(cal.start), cal.n_days, cal.growth, epoch(cal.first_monday),
                                cal.start.year, cal.start.month)
    with_model = (
        synthetic.with_choice(timed, model_t, ["week_idx"], k_model, "model", seed, "model")
        .join(F.broadcast(tables["attributes"]), on="model", how="left")
        .join(F.broadcast(tables["price_step"]), on=["model", "week_idx"], how="left")
        .withColumns({c: F.col(c) * F.coalesce("price_step", F.lit(1.0))
                      for c in ("price_prompt", "price_completion", "price_cache")})
        .drop("price_step")
    )
    categorised = synthetic.with_choice(with_model, cat_t, ["family", "month_idx"], k_cat, "category", seed, "category")
    with_acct = synthetic.with_account(categorised, cohort_t, k_cohort, seed, top)
    return with_acct.transform(synthetic.with_generation_id, seed)


def events_frame(base: DataFrame, plan: Plan, tables: dict, params: dict, seed: int, mess_rate: float) -> DataFrame:
    """Full event rows with mess applied (columns of EVENT_OUTPUT plus `mess` and `copies`)."""
    region_t, k_region = tables["region"]
    country_t, k_country = tables["country"]
    languages = {k: tuple(v) for k, v in params.get("languages", {}).items()}
    top = params["tool_calls"]["top_account"]
    return (
        requests(base, plan, tables, params, seed)
        .transform(synthetic.with_geography, region_t, country_t, k_region, k_country, languages, seed)
        .transform(synthetic.with_lengths, seed, params["lengths"], top)
        .transform(synthetic.with_cost_and_flags, seed, params)
        .transform(synthetic.with_provider_and_app, seed)
        .transform(synthetic.with_mess, seed, mess_rate, params.get("unknown_models", []))
    )


def labels_frame(base: DataFrame, plan: Plan, tables: dict, params: dict, seed: int, label_rate: float) -> DataFrame:
    """Label rows for a label_rate sample of requests (the same requests whatever the partitioning)."""
    path_t, k_path = tables["path"]
    any_t, k_any = tables["any_path"]
    sampled = base.filter(synthetic.uniform(seed, "label") < label_rate)
    return synthetic.label_rows(
        requests(sampled, plan, tables, params, seed), path_t, any_t, k_path, k_any, seed,
        float(params.get("label_low_confidence_rate", 0.0)), float(params.get("label_second_rate", 0.0)),
    )


def _rename_text_parts(spark: SparkSession, folder: str, suffix: str) -> None:
    """Spark's text writer names files part-*.txt[.gz]; give them the JSON Lines extension."""
    if "://" not in folder or folder.startswith("file:"):
        local = Path(folder.removeprefix("file://").removeprefix("file:"))
        for part in local.glob("part-*.txt*"):
            part.rename(part.with_name(part.name.replace(".txt", suffix)))
        return
    # A remote store (HDFS, S3, ...): PySpark has no public API that renames a file,
    # so this goes through Hadoop's FileSystem by py4j. Not available on Spark Connect.
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if name.startswith("part-") and ".txt" in name:
            fs.rename(status.getPath(), jvm.org.apache.hadoop.fs.Path(folder, name.replace(".txt", suffix)))


def write_output(spark, events: DataFrame, labels: DataFrame, out: str, fmt: str, compress: bool,
                 n_label_files: int) -> None:
    """Write DIR/events and DIR/labels in the chosen format."""
    ev_dir, lab_dir = f"{out}/events", f"{out}/labels"
    if fmt == "jsonl":
        codec = "gzip" if compress else "none"
        synthetic.event_json_lines(events).write.mode("overwrite").option("compression", codec).text(ev_dir)
        labels.coalesce(n_label_files).select(F.to_json(F.struct("*")).alias("value")).write.mode(
            "overwrite").option("compression", codec).text(lab_dir)
        for folder in (ev_dir, lab_dir):
            _rename_text_parts(spark, folder, ".jsonl")
    else:
        synthetic.event_rows(events).write.mode("overwrite").parquet(ev_dir)
        labels.coalesce(n_label_files).write.mode("overwrite").parquet(lab_dir)


def run(spark: SparkSession, cfg: dict) -> dict:
    """Generate cfg['generate'] = {requests, out, seed, format, label_rate, mess_rate, partitions, compress}."""
    g = cfg["generate"]
    params = load_params(g.get("params"))
    n, seed = int(g["requests"]), int(g.get("seed", 42))
    label_rate = float(g["label_rate"] if g.get("label_rate") is not None else params["label_rate"])
    mess_rate = float(g["mess_rate"] if g.get("mess_rate") is not None else params["mess_rate"])
    plan = build_plan(params, catalog_info(cfg.get("models")), n)
    tables = plan_tables(spark, plan, params)
    # The cores Spark has: the public defaultParallelism of the SparkContext (a Spark Connect
    # session has no SparkContext; give generate.partitions there).
    partitions = int(g.get("partitions") or max(spark.sparkContext.defaultParallelism, math.ceil(n / 1_000_000)))
    base = spark.range(0, n, numPartitions=partitions)
    events = events_frame(base, plan, tables, params, seed, mess_rate)
    labels = labels_frame(base, plan, tables, params, seed, label_rate)
    write_output(spark, events, labels, g["out"], g.get("format", "jsonl"), bool(g.get("compress")),
                 max(1, min(partitions, math.ceil(n * label_rate / 500_000))))
    response = params.get("price_response") or {}
    manifest = {
        "requests": n, "seed": seed, "format": g.get("format", "jsonl"), "label_rate": label_rate,
        "mess_rate": mess_rate, "window": params["window"],
        "planted_elasticity": {"cross_section": response.get("cross_section"),
                               "within_model": response.get("within_model"),
                               "cross_section_exponent": plan.cross_exponent},
        "expected_figures": plan.expected,
    }
    if "://" not in g["out"]:
        Path(g["out"]).mkdir(parents=True, exist_ok=True)
        (Path(g["out"]) / "_manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    print(f"generate: {n} requests (seed {seed}, {g.get('format', 'jsonl')}) -> {g['out']}", flush=True)
    return manifest


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = base_parser("jobs.generate", "Generate a synthetic year of gateway traffic.")
    parser.add_argument("--requests", type=int, required=True, help="number of requests (before duplicates)")
    parser.add_argument("--out", required=True, help="output folder (events/ and labels/ are written under it)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    parser.add_argument("--label-rate", type=float, help="share of requests with labels (default 0.0025)")
    parser.add_argument("--mess-rate", type=float, help="share of rows made messy (default 0.01)")
    parser.add_argument("--partitions", type=int, help="output files (default: cores, or one per 1M requests)")
    parser.add_argument("--compress", action="store_true", help="gzip the JSON Lines output")
    parser.add_argument("--params", help="generator parameters (default conf/generator.yaml)")
    parser.add_argument("--models", help="model catalog CSV (default conf/models.csv)")
    args = parse(parser, argv)

    def body():
        if args.requests < 1:
            raise PipelineError("--requests must be at least 1")
        for name in ("label_rate", "mess_rate"):
            value = getattr(args, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise PipelineError(f"--{name.replace('_', '-')} must be in [0, 1]")
        cfg = load_conf(args.conf, spark_overrides(args))
        cfg["models"] = args.models
        cfg["generate"] = {
            "requests": args.requests, "out": args.out, "seed": args.seed, "format": args.format,
            "label_rate": args.label_rate, "mess_rate": args.mess_rate, "partitions": args.partitions,
            "compress": args.compress, "params": args.params,
        }
        run(build_session(cfg, "state-of-ai generate"), cfg)

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
