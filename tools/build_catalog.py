"""Build conf/models.csv (the default model catalog) from an OpenRouter /api/v1/models snapshot.

    python -m tools.build_catalog --snapshot ../shared/data/openrouter_models_2025-12-02.json \
        [--authors conf/authors.csv] [--overrides conf/model_overrides.csv] \
        [--manual conf/models_manual.csv] --out conf/models.csv

Rules (CONTRACT 1.3):
- one row per base slug; a `:free` (or other `:variant`) id resolves to its base;
- `open_weights`: a published Hugging Face id, unless an override says otherwise;
- `origin_country` from the curated author table (an unknown author is an error);
- `params_total_b` / `params_active_b` for open models from the override table, else
  parsed from the Hugging Face id or the name (`235B-A22B`, `70B`, `8x7B`);
- `reasoning` from `include_reasoning`, `supports_tools` from `tools` in `supported_parameters`; `release_date` from `created`.
Plain Python: the catalog is a few hundred rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

from jobs.common.cli import CONF_DIR, OneLineParser, PipelineError, exit_with, parse, run_cli

COLUMNS = [
    "model", "author", "name", "release_date", "open_weights", "origin_country",
    "params_total_b", "params_active_b", "reasoning", "supports_tools",
    "price_prompt_per_mtok", "price_completion_per_mtok", "price_cache_read_per_mtok",
    "context_length", "hugging_face_id", "variants", "source",
]
MOE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b-a(\d+(?:\.\d+)?)b(?![a-z])")
EXPERTS = re.compile(r"(?<![a-z0-9.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z])")
DENSE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b(?![a-z])")


def parse_params(*texts: str) -> tuple[float | None, float | None]:
    """Total and active parameters (billions) from names like `Qwen3-235B-A22B` or `Llama-3.3-70B`."""
    for text in texts:
        lower = (text or "").lower().replace("_", "-")
        if m := MOE.search(lower):
            return float(m.group(1)), float(m.group(2))
        if m := EXPERTS.search(lower):
            return float(m.group(1)) * float(m.group(2)), None
        if m := DENSE.search(lower):
            return float(m.group(1)), None
    return None, None


def _hf_id(entry: dict) -> str:
    value = entry.get("hugging_face_id") or ""
    return "" if value in ("None", "null") else value


def _per_mtok(pricing: dict, key: str) -> str:
    try:
        value = float(pricing.get(key, ""))
    except (TypeError, ValueError):
        return ""
    return "" if value < 0 else f"{value * 1e6:.6g}"


def _fmt(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def read_csv(path: Path) -> list[dict]:
    """Rows of a small CSV as dicts (NA stays the text NA: it is a country code)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def build_rows(snapshot: dict, authors: dict[str, dict], overrides: dict[str, dict],
               manual: list[dict], source: str) -> list[dict]:
    """The catalog rows, sorted by model slug."""
    entries = snapshot["data"] if isinstance(snapshot, dict) else snapshot
    by_base: dict[str, dict] = {}
    variants: dict[str, set[str]] = {}
    for entry in entries:
        base, _, variant = entry["id"].partition(":")
        if variant:
            variants.setdefault(base, set()).add(variant)
        # The base entry wins over a variant (its price is the real one).
        if not variant or base not in by_base:
            by_base[base] = entry if not variant else {**entry, "id": base, "_variant_only": True}
    rows = []
    for base, entry in by_base.items():
        author = base.split("/", 1)[0]
        if author not in authors:
            raise PipelineError(f"author {author!r} of {base} is missing from the author table")
        override = overrides.get(base, {})
        hf = _hf_id(entry)
        open_weights = bool(hf)
        if override.get("open_weights"):
            open_weights = override["open_weights"].lower() == "true"
        total = active = None
        if open_weights:
            total, active = parse_params(hf, entry.get("name", ""), base)
            if override.get("params_total_b"):
                total = float(override["params_total_b"])
                active = float(override["params_active_b"]) if override.get("params_active_b") else None
        params = set(entry.get("supported_parameters") or [])
        pricing = entry.get("pricing") or {}
        rows.append({
            "model": base, "author": author, "name": entry.get("name", "").strip(),
            "release_date": dt.datetime.fromtimestamp(entry["created"], dt.timezone.utc).date().isoformat(),
            "open_weights": open_weights, "origin_country": authors[author]["origin_country"],
            "params_total_b": total, "params_active_b": active,
            # `include_reasoning` (the model returns its reasoning) marks reasoning models;
            # a bare `reasoning` is also listed for a few chat models some providers serve
            # with a thinking switch (qwen3-coder, deepseek-chat-v3-0324).
            "reasoning": "include_reasoning" in params,
            "supports_tools": "tools" in params,
            "price_prompt_per_mtok": "" if entry.get("_variant_only") else _per_mtok(pricing, "prompt"),
            "price_completion_per_mtok": "" if entry.get("_variant_only") else _per_mtok(pricing, "completion"),
            "price_cache_read_per_mtok": _per_mtok(pricing, "input_cache_read"),
            "context_length": entry.get("context_length") or "",
            "hugging_face_id": hf, "variants": ";".join(sorted(variants.get(base, ()))),
            "source": source + (f"; {override['note']}" if override.get("note") else ""),
        })
    for row in manual:
        author = row["author"]
        rows.append({
            **{k: row.get(k, "") for k in COLUMNS},
            "origin_country": authors[author]["origin_country"],
            "variants": "", "source": f"manual: {row['note']}",
        })
    return sorted(rows, key=lambda r: r["model"])


def write_catalog(rows: list[dict], out: Path) -> None:
    """Write the catalog CSV."""
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = OneLineParser(prog="tools.build_catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", required=True, help="OpenRouter /api/v1/models JSON")
    parser.add_argument("--authors", default=str(CONF_DIR / "authors.csv"))
    parser.add_argument("--overrides", default=str(CONF_DIR / "model_overrides.csv"))
    parser.add_argument("--manual", default=str(CONF_DIR / "models_manual.csv"))
    parser.add_argument("--out", default=str(CONF_DIR / "models.csv"))
    args = parse(parser, argv)

    def body():
        for path in (args.snapshot, args.authors, args.overrides, args.manual):
            if not Path(path).is_file():
                raise PipelineError(f"no such file: {path}")
        try:
            snapshot = json.loads(Path(args.snapshot).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PipelineError(f"{args.snapshot} is not JSON: {exc}") from exc
        authors = {r["author"]: r for r in read_csv(Path(args.authors))}
        overrides = {r["model"]: r for r in read_csv(Path(args.overrides))}
        manual = read_csv(Path(args.manual))
        source = f"openrouter snapshot {Path(args.snapshot).name}"
        rows = build_rows(snapshot, authors, overrides, manual, source)
        write_catalog(rows, Path(args.out))
        n_open = sum(1 for r in rows if r["open_weights"] in (True, "true"))
        print(f"wrote {len(rows)} models ({n_open} open-weights) to {args.out}")

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
