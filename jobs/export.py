"""Gold tables as plain files a spreadsheet, a BI tool or DuckDB opens.

    python -m jobs.export --warehouse DIR --out DIR [--format csv|parquet] [--tables T1,T2]

Reads each gold table with `deltalake` (delta-rs): no Spark, no JVM. Writes
`OUT/<table>.csv` (header, UTF-8, ISO dates) or `OUT/<table>.parquet` (the table's own
types) and prints one line per table: its rows, columns and file. A table named in
--tables that the warehouse lacks is an error; without --tables, every gold table
present is exported.
"""

from __future__ import annotations

from pathlib import Path

from jobs.common import warehouse
from jobs.common.cli import OneLineParser, PipelineError, exit_with, parse, run_cli
from transforms.tables import GOLD_TABLES

FORMATS = ["csv", "parquet"]


def export_table(path: str, out: Path, name: str, fmt: str) -> tuple[int, int, Path]:
    """Write one Delta table as OUT/<name>.<fmt>; return (rows, columns, file)."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    table = DeltaTable(path).to_pyarrow_table()
    target = out / f"{name}.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, target)
    else:
        pa_csv.write_csv(table, target)
    return table.num_rows, table.num_columns, target


def run(cfg: dict) -> dict[str, tuple[int, int, Path]]:
    """Export cfg['tables'] (default: every gold table present) of cfg['warehouse'] to cfg['export_out']."""
    wh, out, fmt = cfg["warehouse"], Path(cfg["export_out"]), cfg.get("export_format", "csv")
    if fmt not in FORMATS:
        raise PipelineError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    paths = {name: warehouse.table_path(wh, f"gold/{name}") for name in GOLD_TABLES}
    present = [name for name, path in paths.items() if warehouse.is_delta_table(path)]
    wanted = cfg.get("tables") or present
    unknown = [t for t in wanted if t not in GOLD_TABLES]
    if unknown:
        raise PipelineError(f"--tables: not a gold table: {', '.join(unknown)}")
    missing = [t for t in wanted if t not in present]
    if missing:
        raise PipelineError(f"no gold table {', '.join(missing)} under {wh}: run jobs.pipeline first")
    if not wanted:
        raise PipelineError(f"no gold tables under {wh}: run jobs.pipeline first")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in wanted:
        rows, columns, target = export_table(paths[name], out, name, fmt)
        written[name] = (rows, columns, target)
        print(f"export: {name}: {rows} rows, {columns} columns -> {target}", flush=True)
    return written


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = OneLineParser(prog="jobs.export", description="Export gold tables as CSV or Parquet files (no Spark).")
    parser.add_argument("--warehouse", required=True, help="warehouse folder or URI (Delta tables)")
    parser.add_argument("--out", required=True, help="folder for the files")
    parser.add_argument("--format", dest="export_format", choices=FORMATS, default="csv")
    parser.add_argument("--tables", help="comma-separated gold tables (default: all)")
    args = parse(parser, argv)

    def body():
        if "://" not in args.warehouse and not Path(args.warehouse).is_dir():
            raise PipelineError(f"--warehouse: no such folder: {args.warehouse}")
        tables = [t.strip() for t in (args.tables or "").split(",") if t.strip()]
        run({"warehouse": args.warehouse, "export_out": args.out, "export_format": args.export_format,
             "tables": tables})

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
