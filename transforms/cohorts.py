"""Cohort retention matrices, foundational cohorts and boomerangs (activity retention).

An account belongs to the cohort of the calendar month of its first request to a
model (or author); retention at months_since = k is the share of the cohort active
in month k, a return after a gap counting again. Everything is computed from the
distinct (account, model, month) activity table, never from raw requests, and
the cohort x month grid is built per cohort (never accounts x months).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def data_end_month(last_date: dt.date) -> dt.date:
    """The last complete calendar month of data ending on last_date."""
    next_day = last_date + dt.timedelta(days=1)
    if next_day.month != last_date.month:
        return last_date.replace(day=1)
    first = last_date.replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


def activity_months(activity: DataFrame, key: str) -> DataFrame:
    """Distinct (account_key, key, month) with activity. Needs account_key, key, month.

    Requests without an account (a null key) belong to no cohort and are left out."""
    return activity.filter(F.col("account_key").isNotNull()).select("account_key", key, "month").distinct()


def months_between(later, earlier):
    """Whole calendar months from earlier to later (both first-of-month dates)."""
    return ((F.year(later) - F.year(earlier)) * 12 + F.month(later) - F.month(earlier)).cast("int")


def retention_cells(activity_df: DataFrame, key: str, end_month: dt.date) -> DataFrame:
    """key, cohort_month, months_since, cohort_size, active_accounts: the raw counts, before suppression.

    Rows run from months_since 0 to the data's last complete month (right-censored:
    later months have no row); a month without activity has active_accounts 0.
    """
    end = F.lit(end_month).cast("date")
    months = activity_months(activity_df, key).filter(F.col("month") <= end)
    counts = (
        months.withColumn("cohort_month", F.min("month").over(Window.partitionBy("account_key", key)))
        .withColumn("months_since", months_between(F.col("month"), F.col("cohort_month")))
        .groupBy(key, "cohort_month", "months_since")
        .agg(F.count(F.lit(1)).alias("active_accounts"))
    )
    sizes = counts.filter(F.col("months_since") == 0).select(key, "cohort_month",
                                                             F.col("active_accounts").alias("cohort_size"))
    grid = sizes.withColumn(
        "months_since", F.explode(F.sequence(F.lit(0), months_between(end, F.col("cohort_month"))))
    )
    return grid.join(counts, on=[key, "cohort_month", "months_since"], how="left").withColumn(
        "active_accounts", F.coalesce("active_accounts", F.lit(0))
    )


def primary_suppressed(k_min: int) -> Column:
    """A cell with fewer than k_min active accounts, or of a cohort with fewer than k_min."""
    return (F.col("cohort_size") < k_min) | (F.col("active_accounts") < k_min)


def suppress(cells: DataFrame, key: str, end_month: dt.date, suppressed: Column) -> DataFrame:
    """The published matrix: suppressed cells keep their row with null counts and retention."""
    return cells.select(
        key, "cohort_month", "months_since",
        F.when(~suppressed, F.col("cohort_size")).alias("cohort_size"),
        F.when(~suppressed, F.col("active_accounts")).alias("active_accounts"),
        F.when(~suppressed, F.col("active_accounts") / F.col("cohort_size")).alias("retention"),
        suppressed.alias("suppressed"),
        F.lit(end_month).cast("date").alias("data_end_month"),
    )


def cohort_retention(activity_df: DataFrame, key: str, end_month: dt.date, k_min: int,
                     cells: DataFrame | None = None) -> DataFrame:
    """key, cohort_month, months_since, cohort_size, active_accounts, retention, suppressed, data_end_month.

    A cell with fewer than k_min active accounts, and every cell of a cohort with
    fewer than k_min accounts, keeps its row with suppressed = true and null counts
    and retention. `cells`: the key's retention_cells when the caller has them already.
    """
    cells = retention_cells(activity_df, key, end_month) if cells is None else cells
    return suppress(cells, key, end_month, primary_suppressed(k_min))


def author_cohort_retention(activity_df: DataFrame, end_month: dt.date, k_min: int,
                            model_cells: DataFrame | None = None) -> DataFrame:
    """The author matrix, with secondary suppression against the model matrix.

    An author's cell counts the union of the accounts of its models' cells at the
    same cohort month and month (exactly their sum when no account uses two of the
    models). Published next to the model matrix, it would give away the model
    cells suppressed there: author minus the published models. So an author cell
    is suppressed too when the suppressed model cells under it hold between 1 and
    k_min - 1 accounts in all; and when that happens at months_since 0, the whole
    author cohort is (its cohort_size is in every cell of the cohort). `model_cells`: the
    model retention_cells when the caller has them already.
    """
    keys = ["author", "cohort_month", "months_since"]
    model_cells = retention_cells(activity_df, "model", end_month) if model_cells is None else model_cells
    models = model_cells.join(
        F.broadcast(activity_df.select("model", "author").distinct()), on="model", how="inner"
    )
    hidden = (
        models.filter(primary_suppressed(k_min))
        .groupBy(*keys).agg(F.sum("active_accounts").alias("hidden_accounts"))
    )
    cells = retention_cells(activity_df, "author", end_month).join(hidden, on=keys, how="left")
    recoverable = F.coalesce(F.col("hidden_accounts").between(1, k_min - 1), F.lit(False))
    cohort_recoverable = F.max(F.when(F.col("months_since") == 0, recoverable)).over(
        Window.partitionBy("author", "cohort_month"))
    cells = cells.withColumn("_cohort_recoverable", F.coalesce(cohort_recoverable, F.lit(False)))
    suppressed = primary_suppressed(k_min) | recoverable | F.col("_cohort_recoverable")
    return suppress(cells, "author", end_month, suppressed)


def foundational_cohorts(retention: DataFrame, key: str, horizon: int, min_level: float, lift: float) -> DataFrame:
    """Cohorts whose retention at `horizon` is >= min_level and >= lift x the median of the same
    key's later cohorts, compared at the horizon or, when no later cohort reaches it yet, at the
    latest month one does (`compared_at`). Suppressed cells take no part."""
    visible = retention.filter(~F.col("suppressed")).select(key, "cohort_month", "months_since", "retention")
    at_h = visible.filter(F.col("months_since") == horizon).select(
        key, "cohort_month", F.col("retention").alias("value")
    ).filter(F.col("value") >= min_level)
    later = visible.select(key, F.col("cohort_month").alias("later_month"), "months_since",
                           F.col("retention").alias("later_retention"))
    pairs = at_h.join(later, on=key, how="inner").filter(
        (F.col("later_month") > F.col("cohort_month")) & (F.col("months_since") >= 1)
        & (F.col("months_since") <= horizon)
    )
    compared_at = pairs.groupBy(key, "cohort_month").agg(F.max("months_since").alias("compared_at"))
    baseline = (
        pairs.join(compared_at, on=[key, "cohort_month"], how="inner")
        .filter(F.col("months_since") == F.col("compared_at"))
        .groupBy(key, "cohort_month", "compared_at")
        .agg(F.median("later_retention").alias("baseline"), F.count(F.lit(1)).alias("later_cohorts"))
    )
    own = visible.select(key, "cohort_month", F.col("months_since").alias("compared_at"),
                         F.col("retention").alias("own_at_compared"))
    return (
        at_h.join(baseline, on=[key, "cohort_month"], how="inner")
        .join(own, on=[key, "cohort_month", "compared_at"], how="inner")
        .filter(F.col("own_at_compared") >= lift * F.col("baseline"))
        .select(key, "cohort_month", F.lit("foundational").alias("signal"), F.lit(horizon).alias("months_since"),
                "value", "baseline", "compared_at", "later_cohorts")
    )


def boomerangs(retention: DataFrame, key: str, min_rise: float) -> DataFrame:
    """Cells where retention rises from month k-1 to k (k >= 2) by at least min_rise (absolute)."""
    visible = retention.filter(~F.col("suppressed"))
    prev = F.lag("retention").over(Window.partitionBy(key, "cohort_month").orderBy("months_since"))
    prev_k = F.lag("months_since").over(Window.partitionBy(key, "cohort_month").orderBy("months_since"))
    return (
        visible.withColumns({"previous": prev, "_prev_k": prev_k})
        .filter((F.col("months_since") >= 2) & (F.col("_prev_k") == F.col("months_since") - 1)
                & (F.col("retention") - F.col("previous") >= min_rise))
        .select(key, "cohort_month", F.lit("boomerang").alias("signal"), "months_since",
                F.col("retention").alias("value"), F.col("previous").alias("baseline"),
                (F.col("months_since") - 1).alias("compared_at"), F.lit(None).cast("long").alias("later_cohorts"))
    )


def cohort_signals(retention: DataFrame, key: str, horizon: int, min_level: float, lift: float,
                   min_rise: float) -> DataFrame:
    """key, cohort_month, signal (`foundational` | `boomerang`), months_since, value, baseline, compared_at."""
    return foundational_cohorts(retention, key, horizon, min_level, lift).unionByName(
        boomerangs(retention, key, min_rise)
    )
