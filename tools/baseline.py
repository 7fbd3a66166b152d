"""The benchmark's yardstick: a single-node engine (DuckDB) computing the headline gold
tables from the same raw files, on the same machine.

    python -m tools.baseline --events PATH --labels PATH [--models CSV] [--threads N]

It does the same work the pipeline must do to reach those tables, in one process:
parse each JSON line with an explicit schema, drop the rows ingest would quarantine
(missing keys, unparseable times, negative counts), keep the first row of a repeated
generation_id, resolve the model against the catalog (segment), pick each request's
label (highest confidence at or over the threshold, bucket by the longest taxonomy
prefix), then: weekly segment shares, weekly open-weights model shares, weekly
category shares, model retention cohorts, cost and usage per model (billed traffic
of catalog models), and the cross-model price elasticity (OLS of log tokens on log cost per 1M). Nothing is
written to disk: what it measures is the engine's floor, not a warehouse.

DuckDB is a dev/bench dependency only; nothing in the pipeline imports this module.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from jobs.common.cli import CONF_DIR, OneLineParser, exit_with, parse, run_cli
from transforms.enrich import CHINA

THRESHOLD = 0.5  # enrich.label_confidence_threshold in conf/local.yaml

EVENT_COLUMNS = {
    "generation_id": "VARCHAR", "created_at": "VARCHAR", "account_id": "VARCHAR", "model": "VARCHAR",
    "tokens_prompt": "BIGINT", "tokens_completion": "BIGINT", "total_cost": "DOUBLE", "is_byok": "BOOLEAN",
}
LABEL_COLUMNS = {"generation_id": "VARCHAR", "category": "VARCHAR", "confidence": "DOUBLE"}

# Each statement builds one table from the ones before it.
STEPS = {
    "lines": """
        -- Line by line, as ingest reads: DuckDB's read_json with ignore_errors loses the
        -- line after a truncated one, so each line is parsed on its own (a line that is
        -- not JSON gives a row of nulls, which the next step drops).
        SELECT unnest(CASE WHEN json_valid(line) THEN json_transform(line, {event_structure}) END), filename
        FROM read_csv({events}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x01',
                      quote = '', escape = '', filename = true)
    """,
    "events": """
        WITH parsed AS (
            SELECT generation_id, account_id, model, tokens_prompt, tokens_completion, total_cost,
                   coalesce(is_byok, false) AS is_byok,
                   try_cast(created_at AS TIMESTAMPTZ)::TIMESTAMP AS created_at, filename
            FROM lines
        ), valid AS (
            SELECT * FROM parsed
            WHERE nullif(trim(generation_id), '') IS NOT NULL
              AND nullif(trim(model), '') IS NOT NULL AND created_at IS NOT NULL
              AND tokens_prompt >= 0 AND tokens_completion >= 0 AND total_cost >= 0
        )
        SELECT * FROM valid QUALIFY row_number() OVER (PARTITION BY generation_id ORDER BY filename) = 1
    """,
    "silver": """
        WITH best_label AS (
            SELECT generation_id, category AS path
            FROM read_json({labels}, format = 'newline_delimited', ignore_errors = true, columns = {label_columns})
            WHERE confidence >= {threshold}
            QUALIFY row_number() OVER (PARTITION BY generation_id ORDER BY confidence DESC, category) = 1
        ), labelled AS (
            SELECT b.generation_id, arg_max(t.bucket, length(t.prefix)) AS category
            FROM best_label b JOIN taxonomy t
              ON t.prefix = '/' OR b.path = t.prefix OR starts_with(b.path, t.prefix || '/')
            GROUP BY b.generation_id
        )
        SELECT e.account_id, e.is_byok, e.total_cost, coalesce(c.model, e.model_base) AS model,
               date_trunc('week', e.created_at)::DATE AS week_start,
               date_trunc('month', e.created_at)::DATE AS month,
               e.tokens_prompt + e.tokens_completion AS tokens,
               CASE WHEN c.model IS NULL THEN 'unknown' WHEN NOT c.open_weights THEN 'closed'
                    WHEN c.origin_country IN {china} THEN 'oss_china' ELSE 'oss_row' END AS segment,
               l.category
        FROM (SELECT *, regexp_replace(lower(trim(model)), ':[^/]*$', '') AS model_base FROM events) e
        LEFT JOIN catalog c ON c.model = e.model_base
        LEFT JOIN labelled l USING (generation_id)
    """,
    "weekly_segment_share": """
        SELECT week_start, segment, sum(tokens) AS tokens,
               sum(tokens) / sum(sum(tokens)) OVER (PARTITION BY week_start) AS share
        FROM silver GROUP BY week_start, segment
    """,
    "weekly_oss_model_share": """
        SELECT week_start, model, sum(tokens) AS tokens,
               sum(tokens) / sum(sum(tokens)) OVER (PARTITION BY week_start) AS share
        FROM silver WHERE segment IN ('oss_china', 'oss_row') GROUP BY week_start, model
    """,
    "weekly_category_share": """
        SELECT week_start, category, sum(tokens) AS tokens,
               sum(tokens) / sum(sum(tokens)) OVER (PARTITION BY week_start) AS share
        FROM silver WHERE category IS NOT NULL GROUP BY week_start, category
    """,
    "cohort_retention": """
        WITH active AS (SELECT DISTINCT account_id, model, month FROM silver
                        WHERE nullif(trim(account_id), '') IS NOT NULL),
        cohorts AS (
            SELECT *, min(month) OVER (PARTITION BY account_id, model) AS cohort_month FROM active
        )
        SELECT model, cohort_month, date_diff('month', cohort_month, month) AS months_since,
               count(*) AS active_accounts,
               count(*) / max(count(*)) OVER (PARTITION BY model, cohort_month) AS retention
        FROM cohorts GROUP BY model, cohort_month, month
    """,
    "model_cost_usage": """
        SELECT model, any_value(segment) AS segment, sum(tokens) AS tokens, sum(total_cost) AS spend,
               1e6 * sum(total_cost) / sum(tokens) AS cost_per_mtok
        FROM silver WHERE NOT is_byok AND segment <> 'unknown'
        GROUP BY model HAVING sum(tokens) > 0 AND sum(total_cost) > 0
    """,
    "price_elasticity": """
        SELECT regr_slope(ln(tokens), ln(cost_per_mtok)) AS elasticity, regr_r2(ln(tokens), ln(cost_per_mtok)) AS r2,
               count(*) AS n_models
        FROM model_cost_usage WHERE tokens > 0 AND cost_per_mtok > 0
    """,
}


@dataclass
class BaselineRun:
    """Wall time of each step and of the whole, and the row count of each table."""

    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    total: float = 0.0


def _json_path(path: str) -> str:
    """A folder of JSON Lines files as the glob DuckDB reads."""
    p = Path(path)
    return str(p / "**" / "*.json*") if p.is_dir() else str(p)


def run(events: str, labels: str, models: str | None = None, threads: int | None = None, con=None) -> BaselineRun:
    """Compute the headline tables with DuckDB; return the timings (the tables stay in `con`)."""
    import duckdb

    started = time.perf_counter()
    con = con or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("CREATE OR REPLACE TEMP TABLE catalog AS SELECT model, open_weights, origin_country "
                "FROM read_csv(?, header = true)", [str(models or CONF_DIR / "models.csv")])
    con.execute("CREATE OR REPLACE TEMP TABLE taxonomy AS SELECT prefix, bucket FROM read_csv(?, header = true)",
                [str(CONF_DIR / "taxonomy.csv")])
    result = BaselineRun()
    for name, sql in STEPS.items():
        step = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS " + sql.format(
            events=_quote(_json_path(events)), labels=_quote(_json_path(labels)), threshold=THRESHOLD,
            event_structure=_quote(_json_structure(EVENT_COLUMNS)), label_columns=_struct(LABEL_COLUMNS),
            china="(" + ", ".join(_quote(c) for c in CHINA) + ")",
        ))
        result.rows[name] = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        result.seconds[name] = time.perf_counter() - step
    result.total = time.perf_counter() - started
    return result


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_structure(columns: dict[str, str]) -> str:
    """The JSON structure json_transform casts a line to: {"field": "TYPE", ...}."""
    return "{" + ", ".join(f'"{k}": "{v}"' for k, v in columns.items()) + "}"


def _struct(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in columns.items()) + "}"


def main(argv=None) -> int:
    """Command-line entry point: print each step's time and the total."""
    parser = OneLineParser(prog="tools.baseline", description="The DuckDB baseline of the headline gold tables.")
    parser.add_argument("--events", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--models", help="model catalog CSV (default conf/models.csv)")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: every core)")
    args = parse(parser, argv)

    def body():
        result = run(args.events, args.labels, args.models, args.threads)
        for name, seconds in result.seconds.items():
            print(f"baseline: {name} {seconds:.2f}s ({result.rows[name]:,} rows)", flush=True)
        print(f"baseline: done in {result.total:.1f}s", flush=True)

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
