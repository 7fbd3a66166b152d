"""Row validation, typing and deduplication of raw input rows.

Raw rows arrive with every contract field as text (whatever the file format), a
`raw` column holding the original content and an `is_malformed` flag for lines
that were not a JSON object. Validation gives each row the first failed rule as
its `reason` (null for a valid row); typing casts the text to the contract types.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

INTEGER_TEXT = r"^\s*[+-]?[0-9]+\s*$"


def _is_blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == "")


def _parses_as(col: Column, dtype: T.DataType) -> Column:
    """True when a non-blank text value is a valid value of dtype."""
    text = F.trim(col)
    if isinstance(dtype, T.LongType):
        # A long cast would accept "12.7" (truncating), so the text must be an integer;
        # its range is checked as a decimal so "2^63" is bad, never an overflow.
        return text.rlike(INTEGER_TEXT) & text.try_cast("decimal(38,0)").between(-(2**63), 2**63 - 1)
    if isinstance(dtype, T.DoubleType):
        as_double = text.try_cast("double")
        return as_double.isNotNull() & ~F.isnan(as_double) & (F.abs(as_double) < F.lit(float("inf")))
    if isinstance(dtype, T.BooleanType):
        return F.lower(text).isin("true", "false")
    if isinstance(dtype, T.TimestampType):
        return F.try_to_timestamp(text).isNotNull()
    return F.lit(True)


def typed(col: Column, dtype: T.DataType) -> Column:
    """Cast a text value to its contract type; null where it does not parse.

    The `try_` forms matter under ANSI mode (Spark 4's default): typing runs on
    every row, rejected ones included, and a plain cast of "abc" would fail the job
    instead of leaving the row to its quarantine reason.
    """
    text = F.trim(col)
    if isinstance(dtype, T.LongType):
        return text.try_cast("long")
    if isinstance(dtype, T.DoubleType):
        return text.try_cast("double")
    if isinstance(dtype, T.BooleanType):
        return F.lower(text).try_cast("boolean")
    if isinstance(dtype, T.TimestampType):
        return F.try_to_timestamp(text)
    return col


def rejection_reason(
    fields: list[tuple[str, T.DataType, bool]],
    non_negative: list[str],
    extra_rules: list[tuple[Column, str]] | None = None,
    format_reason: bool = False,
) -> Column:
    """The code of the first rule a raw row breaks, or null when it breaks none.

    Rules in order: `malformed_record`; `missing_<field>` for a blank required
    field; `bad_<field>` for a value that is not of its type; `negative_<field>`;
    then any extra (condition, code) rules, evaluated on typed values.
    """
    checks: list[tuple[Column, str | Column]] = [(F.col("is_malformed"), "malformed_record")]
    if format_reason:  # a source format's own reason, after malformed and before the contract's
        checks.append((F.col("format_reason").isNotNull(), F.col("format_reason")))
    checks += [(_is_blank(F.col(n)), f"missing_{n}") for n, _, required in fields if required]
    checks += [
        (~_is_blank(F.col(n)) & ~_parses_as(F.col(n), t), f"bad_{n}")
        for n, t, _ in fields
        if not isinstance(t, T.StringType)
    ]
    types = {n: t for n, t, _ in fields}
    checks += [(typed(F.col(n), types[n]) < 0, f"negative_{n}") for n in non_negative]
    checks += extra_rules or []
    return F.coalesce(*[F.when(cond, code if isinstance(code, Column) else F.lit(code)) for cond, code in checks])


def with_rejection_reason(
    df: DataFrame,
    fields: list[tuple[str, T.DataType, bool]],
    non_negative: list[str],
    extra_rules: list[tuple[Column, str]] | None = None,
) -> DataFrame:
    """Add `reason` (null when valid). Needs the text fields and `is_malformed` (and uses
    `format_reason` when the frame has it)."""
    return df.withColumn(
        "reason", rejection_reason(fields, non_negative, extra_rules, "format_reason" in df.columns)
    )


def with_typed_fields(
    df: DataFrame, fields: list[tuple[str, T.DataType, bool]], defaults: dict | None = None
) -> DataFrame:
    """Cast the text fields to their contract types; absent optional values get defaults.

    Blank strings of optional text fields become null. Other columns are kept.
    """
    defaults = defaults or {}
    casts = {}
    for name, dtype, _ in fields:
        value = F.when(~_is_blank(F.col(name)), typed(F.col(name), dtype))
        if name in defaults:
            value = F.coalesce(value, F.lit(defaults[name]).cast(dtype))
        casts[name] = value.cast(dtype)
    return df.withColumns(casts)


def duplicate_flags(valid_keys: DataFrame, keys: list[str], existing_keys: DataFrame | None = None) -> DataFrame:
    """One row per key that is repeated in the batch or already in bronze: the keys,
    `_first_file` and `_first_pos` (where the batch saw it first, the smallest
    (source_file, row_pos); null when the batch holds it once) and `in_bronze`.

    Needs the keys, `source_file` and `row_pos` of the batch's valid rows: narrow
    columns, so finding duplicates never shuffles whole rows. Usually small: the
    caller may broadcast it back onto the rows.
    """
    repeated = (
        valid_keys.groupBy(*keys)
        .agg(F.count(F.lit(1)).alias("_seen"), F.min(F.struct("source_file", "row_pos")).alias("_first"))
        .filter(F.col("_seen") > 1)
        .select(*keys, F.col("_first.source_file").alias("_first_file"), F.col("_first.row_pos").alias("_first_pos"))
    )
    if existing_keys is None:
        return repeated.withColumn("in_bronze", F.lit(False))
    known = valid_keys.select(*keys).join(existing_keys.select(*keys), on=keys, how="left_semi").distinct()
    return repeated.join(known.withColumn("in_bronze", F.lit(True)), on=keys, how="full").withColumn(
        "in_bronze", F.coalesce("in_bronze", F.lit(False)))


def is_repeat() -> Column:
    """A row that is not its key's first-seen row in the batch (needs the duplicate_flags columns joined on)."""
    return F.col("_first_file").isNotNull() & (
        (F.col("source_file") != F.col("_first_file")) | (F.col("row_pos") != F.col("_first_pos"))
    )


def outcome(is_valid: Column, duplicate_rank: Column, in_bronze: Column, is_skipped: Column | None = None) -> Column:
    """Where a row goes: `skipped` (not a request), `quarantine`, `duplicate` or `bronze` (exactly one)."""
    first = F.when(is_skipped, F.lit("skipped")) if is_skipped is not None else None
    return (
        (first.when(~is_valid, F.lit("quarantine")) if first is not None else F.when(~is_valid, F.lit("quarantine")))
        .when((duplicate_rank > 1) | in_bronze, F.lit("duplicate"))
        .otherwise(F.lit("bronze"))
    )
