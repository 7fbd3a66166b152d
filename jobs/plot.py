"""Figures (PNG) and one self-contained report.html from a warehouse's gold tables.

    python -m jobs.plot --warehouse DIR --out DIR [--conf FILE]

Reads only the gold tables (and the ingest accounting for the header) with
`deltalake` (delta-rs) straight into pandas: no JVM and no Spark, so the step starts
in a second and runs where Java is absent. delta-rs reads local folders and object
stores (s3://, gs://, az://, with the usual credentials in the environment).
Drawing is pandas + matplotlib (the `figures` package).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import jobs
from figures import agentic, categories, economics, geography, open_closed, retention
from jobs.common import warehouse
from jobs.common.cli import OneLineParser, PipelineError, exit_with, parse, run_cli
from transforms.tables import GOLD_TABLES

RETENTION_MODELS = ["anthropic/claude-sonnet-4", "google/gemini-2.5-pro", "deepseek/deepseek-r1",
                    "deepseek/deepseek-chat-v3-0324", "google/gemini-2.0-flash-001", "meta-llama/llama-4-maverick"]


@dataclass
class Figure:
    """One drawn figure (or the reason it could not be drawn)."""

    name: str
    caption: str
    png: bytes | None = None
    error: str | None = None


@dataclass
class Section:
    """A chapter of the report."""

    title: str
    figures: list[Figure] = field(default_factory=list)


def read_table(path: str, version: int | None = None) -> pd.DataFrame:
    """A small Delta table (at a version) as pandas, through delta-rs."""
    from deltalake import DeltaTable

    return DeltaTable(str(path), version=version).to_pandas()


def load_gold(wh: str) -> dict[str, pd.DataFrame]:
    """Every gold table present, as pandas (they are small)."""
    out = {}
    for name in GOLD_TABLES:
        path = warehouse.table_path(wh, f"gold/{name}")
        if warehouse.is_delta_table(path):
            out[name] = read_table(path)
    return out


def accounting(wh: str) -> dict | None:
    """Summed ingest accounting of events from ops/ingest_runs."""
    path = warehouse.table_path(wh, "ops/ingest_runs")
    if not warehouse.is_delta_table(path):
        return None
    runs = read_table(path)
    runs = runs[runs["kind"] == "events"]
    return {k: int(runs[k].sum()) for k in ("rows_read", "rows_added", "rows_quarantined", "duplicates_dropped")} | {
        "runs": len(runs)}


def draw(name: str, needs: list[str], gold: dict, fn) -> Figure:
    """Call a figure function if its tables are present; a missing table becomes a message, not a crash."""
    missing = [t for t in needs if t not in gold or gold[t].empty]
    if missing:
        return Figure(name, "", error=f"gold table(s) missing or empty: {', '.join(missing)}")
    import matplotlib.pyplot as plt

    try:
        fig, caption = fn(*[gold[t] for t in needs])
    except Exception as exc:  # a figure must never take the report down
        return Figure(name, "", error=f"could not draw: {type(exc).__name__}: {exc}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return Figure(name, caption, buf.getvalue())


def sections(gold: dict, planted: dict | None = None) -> list[Section]:
    """Every figure of the study, by chapter; `planted` holds the generator's planted elasticities."""
    out = [
        Section("Open versus closed weights", [
            draw("segment_share", ["weekly_segment_share"], gold, open_closed.segment_share),
            draw("oss_model_share", ["weekly_oss_model_share", "weekly_oss_concentration"], gold,
                 open_closed.oss_model_share),
            draw("size_share", ["weekly_size_share"], gold, open_closed.size_share),
        ]),
        Section("Categories", [
            draw("category_share", ["weekly_category_share"], gold, categories.category_share),
            draw("segment_category_mix", ["category_segment_mix"], gold, categories.segment_category_mix),
            draw("roleplay_by_segment", ["weekly_category_segment_share"], gold, categories.roleplay_by_segment),
            draw("programming_by_author", ["weekly_author_programming_share"], gold,
                 categories.programming_by_author),
            draw("subcategories", ["subcategory_share"], gold, categories.subcategory_bars),
            draw("author_profiles", ["author_category_mix"], gold, categories.author_profiles),
        ]),
        Section("Agentic inference", [
            draw("reasoning_share", ["weekly_reasoning_share"], gold, agentic.reasoning_share),
            draw("tool_call_share", ["weekly_tool_call_share"], gold, agentic.tool_call_share),
            draw("sequence_lengths", ["weekly_sequence_length"], gold, agentic.sequence_lengths),
        ]),
        Section("Geography and language", [
            draw("region_spend", ["weekly_region_share"], gold, geography.region_spend),
            draw("languages", ["language_share"], gold, geography.languages),
        ]),
    ]
    ret = Section("Retention")
    present = set(gold["cohort_retention"]["model"]) if "cohort_retention" in gold else set()
    signalled = set(retention.passing(gold["cohort_signals"])["model"]) if "cohort_signals" in gold else set()
    models = [m for m in RETENTION_MODELS if m in present] + sorted(signalled - set(RETENTION_MODELS))
    if not models:
        ret.figures.append(draw("retention", ["cohort_retention", "cohort_signals"], gold, lambda *a: None)
                           if "cohort_retention" not in gold else
                           Figure("retention", "", error="no model has enough accounts to show"))
    for model in models:
        slug = model.replace("/", "_")
        ret.figures.append(draw(f"retention_heatmap_{slug}", ["cohort_retention"], gold,
                                lambda r, m=model: retention.heatmap(r, m)))
        ret.figures.append(draw(f"retention_curves_{slug}", ["cohort_retention", "cohort_signals"], gold,
                                lambda r, s, m=model: retention.curves(r, s, m)))
    out.append(ret)
    out.append(Section("Cost and usage", [
        draw("category_cost_usage", ["category_cost_usage"], gold, economics.category_scatter),
        draw("model_cost_usage", ["model_cost_usage", "price_elasticity"], gold, economics.model_scatter),
        draw("price_elasticity", ["price_elasticity"], gold, lambda e: economics.elasticity_fits(e, planted)),
    ]))
    return out


def render_html(secs: list[Section], header: dict) -> str:
    """One self-contained HTML page: images embedded as data URIs."""
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>State of AI: report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}",
        "h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}",
        "figure{margin:1.5em 0} img{max-width:100%} figcaption{color:#444;margin-top:.3em}",
        ".missing{color:#a33;background:#fdeeee;padding:.6em} table{border-collapse:collapse}",
        "td,th{padding:.2em .8em;text-align:left} nav a{margin-right:1em}",
        "</style></head><body>",
        "<h1>State of AI: token-usage report</h1>",
        f"<p>Data window: <b>{esc(header['window'])}</b> &middot; pipeline version {esc(header['version'])} "
        f"&middot; drawn {esc(header['drawn'])}</p>",
    ]
    acc = header.get("accounting")
    if acc:
        parts.append(
            "<table><tr><th>events read</th><th>added to bronze</th><th>quarantined</th><th>duplicates dropped</th>"
            f"<th>ingest runs</th></tr><tr><td>{acc['rows_read']:,}</td><td>{acc['rows_added']:,}</td>"
            f"<td>{acc['rows_quarantined']:,}</td><td>{acc['duplicates_dropped']:,}</td><td>{acc['runs']}</td></tr>"
            "</table>")
    parts.append("<nav>" + "".join(f"<a href='#s{i}'>{esc(s.title)}</a>" for i, s in enumerate(secs)) + "</nav>")
    for i, sec in enumerate(secs):
        parts.append(f"<h2 id='s{i}'>{esc(sec.title)}</h2>")
        for fig in sec.figures:
            if fig.png is None:
                parts.append(f"<p class='missing'>{esc(fig.name)}: {esc(fig.error or 'not drawn')}</p>")
                continue
            data = base64.b64encode(fig.png).decode("ascii")
            parts.append(f"<figure id='{esc(fig.name)}'><img alt='{esc(fig.name)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{esc(fig.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def planted_values(manifest: str | None) -> dict | None:
    """The planted elasticities of a generated year, from the generator's _manifest.json."""
    if not manifest:
        return None
    path = Path(manifest)
    if not path.is_file():
        raise PipelineError(f"--generated: no such file: {manifest}")
    try:
        return json.loads(path.read_text())["planted_elasticity"]
    except (ValueError, KeyError) as exc:
        raise PipelineError(f"--generated: {manifest} is not a generator manifest with planted_elasticity: {exc}") from exc


def write_report(gold: dict, acc: dict | None, out: Path, planted: dict | None = None) -> Path:
    """Draw every figure into out/ (PNG) and out/report.html; return the report path."""
    out.mkdir(parents=True, exist_ok=True)
    secs = sections(gold, planted)
    for sec in secs:
        for fig in sec.figures:
            if fig.png is not None:
                (out / f"{fig.name}.png").write_bytes(fig.png)
    seg = gold.get("weekly_segment_share")
    window = (f"weeks {seg['week_start'].min()} to {seg['week_start'].max()}" if seg is not None and len(seg)
              else "no data")
    header = {"window": window, "version": jobs.__version__, "accounting": acc,
              "drawn": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    report = out / "report.html"
    report.write_text(render_html(secs, header), encoding="utf-8")
    return report


def run(cfg: dict) -> Path:
    """Read the gold tables of cfg['warehouse'] and write the figures and report to cfg['plot_out']."""
    wh = cfg["warehouse"]
    gold = load_gold(wh)
    if not gold:
        raise PipelineError(f"no gold tables under {wh}: run jobs.pipeline first")
    report = write_report(gold, accounting(wh), Path(cfg["plot_out"]), planted_values(cfg.get("generated")))
    print(f"report: {report.resolve()}", flush=True)
    return report


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = OneLineParser(prog="jobs.plot",
                           description="Draw the study's figures and report.html from gold tables (no Spark).")
    parser.add_argument("--warehouse", required=True, help="warehouse folder or URI (Delta tables)")
    parser.add_argument("--out", required=True, help="folder for the PNGs and report.html")
    parser.add_argument("--generated", help="the generator's _manifest.json, when the warehouse holds a generated "
                                            "year: the elasticity figure shows the planted values")
    args = parse(parser, argv)

    def body():
        if "://" not in args.warehouse and not Path(args.warehouse).is_dir():
            raise PipelineError(f"--warehouse: no such folder: {args.warehouse}")
        run({"warehouse": args.warehouse, "plot_out": args.out, "generated": args.generated})

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
