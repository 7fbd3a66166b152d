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

from transforms import schema


def _is_blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col) == "")


def typed(col: Column, dtype: T.DataType) -> Column:
    """Cast a text value to its contract type; null where it does not parse.

    The `try_` forms matter under ANSI mode (Spark 4's default): typing runs on
    every row, rejected ones included, and a plain cast of "abc" would fail the job
    instead of leaving the row to its quarantine reason. `try_cast` to a long takes
    only integer text within 64 bits ("12.7", "1e3" and 2^63 are null); a boolean is
    only `true` or `false` in any case.
    """
    text = F.trim(col)
    if isinstance(dtype, T.LongType):
        return text.try_cast("long")
    if isinstance(dtype, T.DoubleType):
        return text.try_cast("double")
    if isinstance(dtype, T.BooleanType):
        lower = F.lower(text)
        return F.when(lower == "true", F.lit(True)).when(lower == "false", F.lit(False))
    if isinstance(dtype, T.TimestampType):
        return F.try_to_timestamp(text)
    return col


def _is_bad(value: Column, dtype: T.DataType) -> Column:
    """A typed value that did not parse (null), or a double that is NaN or infinite."""
    if isinstance(dtype, T.DoubleType):
        return value.isNull() | F.isnan(value) | (F.abs(value) == F.lit(float("inf")))
    return value.isNull()


def _text(name: str) -> str:
    return f"_text_{name}"


# A format that can read some fields straight into their contract types (a JSON reader
# given a typed schema) gives them in a struct, TYPED, with TYPED_OK true on the rows
# where that read succeeded; elsewhere its text columns hold the fields as usual.
TYPED, TYPED_OK = "_typed", "_typed_ok"


def pretyped_fields(fields: list[tuple[str, T.DataType, bool]]) -> list[str]:
    """The fields a typed read can give in their contract type with the same meaning as
    the text path: counts, amounts and flags (a timestamp's text is parsed here, and a
    string is text either way)."""
    return [n for n, t, _ in fields if isinstance(t, T.LongType | T.DoubleType | T.BooleanType)]


def typed_struct(fields: list[tuple[str, T.DataType, bool]]) -> T.StructType:
    """The schema of a format's TYPED struct: the pretyped fields in their contract types,
    every other field as text."""
    pretyped = set(pretyped_fields(fields))
    return T.StructType([T.StructField(n, t if n in pretyped else T.StringType(), True) for n, t, _ in fields])


def validated(
    df: DataFrame,
    fields: list[tuple[str, T.DataType, bool]],
    non_negative: list[str],
    extra_rules: list[tuple[Column, str]] | None = None,
    defaults: dict | None = None,
) -> DataFrame:
    """Add `reason`, the code of the first rule a raw row breaks (null when it breaks
    none), and cast the text fields to their contract types.

    Rules in order: `malformed_record`; a source format's own `format_reason` (when
    the frame has the column); `missing_<field>` for a blank required field;
    `bad_<field>` for a value that is not of its type (`"12.5"` or `"1e3"` for a
    count, NaN, a boolean other than true/false, an unparseable time); then
    `negative_<field>`; then the extra (condition, code) rules, which see the typed
    columns. Each value is cast once, and the rules read the typed values. Blank
    optional values become null, then take their `defaults`.

    When the frame has TYPED and TYPED_OK (a format's typed read), a row with TYPED_OK
    takes its pretyped fields from TYPED as they are: a null is blank, and only a NaN or
    infinite amount is bad; its text columns for those fields are not read. Any other
    row goes the text path.
    """
    defaults = defaults or {}
    types = {n: t for n, t, _ in fields}
    pretyped = set(pretyped_fields(fields)) if TYPED in df.columns else set()

    def text_value(n: str) -> Column:
        return F.when(~_is_blank(F.col(_text(n))), typed(F.col(_text(n)), types[n]))

    def blank(n: str) -> Column:
        if n in pretyped:
            return F.when(F.col(TYPED_OK), F.col(f"{TYPED}.{n}").isNull()).otherwise(_is_blank(F.col(_text(n))))
        return _is_blank(F.col(_text(n)))

    staged = df.withColumnsRenamed({n: _text(n) for n in types}).withColumns({
        n: F.when(F.col(TYPED_OK), F.col(f"{TYPED}.{n}")).otherwise(text_value(n)) if n in pretyped else text_value(n)
        for n in types
    })
    checks: list[tuple[Column, str | Column]] = [(F.col("is_malformed"), "malformed_record")]
    if "format_reason" in df.columns:  # a source format's own reason, after malformed and before the contract's
        checks.append((F.col("format_reason").isNotNull(), F.col("format_reason")))
    checks += [(blank(n), f"missing_{n}") for n, _, required in fields if required]
    checks += [(~blank(n) & _is_bad(F.col(n), t), f"bad_{n}")
               for n, t in types.items() if not isinstance(t, T.StringType)]
    checks += [(F.col(n) < 0, f"negative_{n}") for n in non_negative]
    checks += extra_rules or []
    reason = F.coalesce(*[F.when(cond, code if isinstance(code, Column) else F.lit(code)) for cond, code in checks])
    return staged.withColumn("reason", reason).withColumns({
        n: (F.coalesce(F.col(n), F.lit(defaults[n]).cast(t)) if n in defaults else F.col(n)).cast(t)
        for n, t in types.items()
    }).drop(*[_text(n) for n in types], TYPED, TYPED_OK)


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


def event_range_rules(bounds: dict) -> list[tuple[Column, str]]:
    """The range rules of an event beyond its type, as (condition, reason) on the typed
    columns; `bounds` is the conf's `ingest` block (min_created_at, max_created_at, max_tokens)."""
    ts = F.col("created_at")
    rules = [(
        (ts < F.lit(str(bounds.get("min_created_at", "2000-01-01"))).cast("timestamp"))
        | (ts >= F.lit(str(bounds.get("max_created_at", "2100-01-01"))).cast("timestamp")),
        "created_at_out_of_range",
    )]
    # A token count is a 64-bit integer, but one near 2^63 would overflow every sum
    # it enters (prompt + completion in silver, the weekly totals in gold).
    max_tokens = int(bounds.get("max_tokens", 10**9))
    return rules + [(F.col(name) > max_tokens, f"{name}_out_of_range") for name in schema.TOKEN_COLUMNS]


def label_range_rules() -> list[tuple[Column, str]]:
    """The range rule of a label: a confidence from 0 to 1."""
    return [(~F.col("confidence").between(0.0, 1.0), "confidence_out_of_range")]
