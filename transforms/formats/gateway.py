"""The contract's own format: one flat record per row, in JSON Lines, CSV or Parquet.

Each function returns the raw-row shape validation expects: `source_file`,
`row_pos`, `raw` (the original content), `is_malformed`, `format_reason` (a
format's own rejection reason, null here), `is_skipped` (rows that are not
requests, such as non-GenAI spans; false here), and every contract field as text
(JSON Lines: with validate's TYPED struct beside it, see parse_json_lines). Unknown
extra columns are dropped here, never fatal.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms import validate
from transforms.schema import text_struct_of

CORRUPT = "_corrupt_record"


def parse_json_lines(lines_df: DataFrame, fields: list[tuple[str, T.DataType, bool]]) -> DataFrame:
    """Parse JSON Lines text into raw rows.

    Needs `value` (the line), `source_file`, `row_pos`. A line is parsed once with its
    counts, amounts and flags in their contract types (validate's TYPED, TYPED_OK):
    the common case, read without turning numbers into text and back. A line that
    read fails (a wrong type, or not JSON) is parsed again with every field as text,
    so a wrong type is reported by validation rather than lost by the parser. A line
    that is not a JSON object (including a blank line) is kept, `is_malformed`.
    """
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}
    corrupt = [T.StructField(CORRUPT, T.StringType())]
    typed = F.from_json("value", T.StructType(validate.typed_struct(fields).fields + corrupt), options)
    text = F.from_json("value", T.StructType(text_struct_of(fields).fields + corrupt), options)
    ok = F.col(validate.TYPED_OK)
    pretyped = set(validate.pretyped_fields(fields))
    return (
        lines_df.withColumn(validate.TYPED, typed)
        .withColumn(validate.TYPED_OK,
                    F.col(validate.TYPED).isNotNull() & F.col(f"{validate.TYPED}.{CORRUPT}").isNull())
        .withColumn("parsed", F.when(~ok, text))  # only the lines the typed read failed
        .withColumn(
            "is_malformed",
            ~ok & (F.col("parsed").isNull() | F.col(f"parsed.{CORRUPT}").isNotNull() | (F.trim("value") == "")),
        )
        .select(
            "source_file", "row_pos", F.col("value").alias("raw"), "is_malformed",
            F.lit(None).cast("string").alias("format_reason"), F.lit(False).alias("is_skipped"),
            validate.TYPED, validate.TYPED_OK,
            *[(F.when(~ok & ~F.col("is_malformed"), F.col(f"parsed.{n}")) if n in pretyped else
               F.when(ok, F.col(f"{validate.TYPED}.{n}")).when(~F.col("is_malformed"), F.col(f"parsed.{n}"))).alias(n)
              for n, _, _ in fields],
        )
    )


def from_columns(df: DataFrame, fields: list[tuple[str, T.DataType, bool]]) -> DataFrame:
    """Map a columnar read (CSV or Parquet) onto raw rows.

    Needs `source_file` and `row_pos` besides the file's own columns. A contract
    column the file lacks becomes null (so a missing required column quarantines
    every row as `missing_<field>`). `raw` is the row's own columns as JSON.
    """
    data_columns = [c for c in df.columns if c not in ("source_file", "row_pos")]
    present = set(data_columns)
    return df.select(
        "source_file", "row_pos",
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in data_columns])).alias("raw"),
        F.lit(False).alias("is_malformed"),
        F.lit(None).cast("string").alias("format_reason"), F.lit(False).alias("is_skipped"),
        *[
            (F.col(f"`{n}`").cast("string") if n in present else F.lit(None).cast("string")).alias(n)
            for n, _, _ in fields
        ],
    )
