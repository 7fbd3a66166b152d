"""Cohort retention matrices, and the inputs of their signals' tests (activity retention).

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
    `stayed_accounts`: the active accounts that were active the month before too (0 at
    months_since 0), what a paired test of two consecutive months needs; it is never
    published.
    """
    end = F.lit(end_month).cast("date")
    months = activity_months(activity_df, key).filter(F.col("month") <= end)
    # One ordered window per (account, key): its running minimum is the first month.
    by_account = Window.partitionBy("account_key", key).orderBy("month")
    counts = (
        months.withColumns({
            "cohort_month": F.min("month").over(by_account),
            "_stayed": (months_between(F.col("month"), F.lag("month").over(by_account)) == 1).cast("int"),
        })
        .withColumn("months_since", months_between(F.col("month"), F.col("cohort_month")))
        .groupBy(key, "cohort_month", "months_since")
        .agg(F.count(F.lit(1)).alias("active_accounts"),
             F.coalesce(F.sum("_stayed"), F.lit(0)).cast("long").alias("stayed_accounts"))
    )
    sizes = counts.filter(F.col("months_since") == 0).select(key, "cohort_month",
                                                             F.col("active_accounts").alias("cohort_size"))
    grid = sizes.withColumn(
        "months_since", F.explode(F.sequence(F.lit(0), months_between(end, F.col("cohort_month"))))
    )
    return grid.join(counts, on=[key, "cohort_month", "months_since"], how="left").withColumns({
        "active_accounts": F.coalesce("active_accounts", F.lit(0)),
        "stayed_accounts": F.coalesce("stayed_accounts", F.lit(0)),
    })


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
                            model_cells: DataFrame | None = None, author_cells: DataFrame | None = None) -> DataFrame:
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
    author_cells = retention_cells(activity_df, "author", end_month) if author_cells is None else author_cells
    cells = author_cells.join(hidden, on=keys, how="left")
    recoverable = F.coalesce(F.col("hidden_accounts").between(1, k_min - 1), F.lit(False))
    cohort_recoverable = F.max(F.when(F.col("months_since") == 0, recoverable)).over(
        Window.partitionBy("author", "cohort_month"))
    cells = cells.withColumn("_cohort_recoverable", F.coalesce(cohort_recoverable, F.lit(False)))
    suppressed = primary_suppressed(k_min) | recoverable | F.col("_cohort_recoverable")
    return suppress(cells, "author", end_month, suppressed)


def boomerang_pairs(cells: DataFrame, published: DataFrame, key: str) -> DataFrame:
    """Every two consecutive months (k - 1, k), k >= 2, of a cohort whose cells are both published,
    with the counts McNemar's test takes: key, cohort_month, months_since (k), cohort_size,
    value (retention at k), baseline (at k - 1), compared_at (k - 1), accounts_lost (active at
    k - 1, not at k), accounts_gained (active at k, not at k - 1).

    `cells`: retention_cells (raw counts); `published`: the matrix after suppression. A cell
    suppressed there is never part of a pair."""
    keys = [key, "cohort_month", "months_since"]
    visible = published.filter(~F.col("suppressed")).select(*keys)
    cur = cells.join(visible, on=keys, how="inner")
    prev = cur.select(key, "cohort_month", (F.col("months_since") + 1).alias("months_since"),
                      F.col("active_accounts").alias("previous_accounts"))
    return cur.filter(F.col("months_since") >= 2).join(prev, on=keys, how="inner").select(
        key, "cohort_month", "months_since", "cohort_size",
        (F.col("active_accounts") / F.col("cohort_size")).alias("value"),
        (F.col("previous_accounts") / F.col("cohort_size")).alias("baseline"),
        (F.col("months_since") - 1).alias("compared_at"),
        (F.col("previous_accounts") - F.col("stayed_accounts")).alias("accounts_lost"),
        (F.col("active_accounts") - F.col("stayed_accounts")).alias("accounts_gained"),
    )


def foundational_candidates(published: DataFrame, key: str, horizon: int, min_later: int) -> DataFrame:
    """Every cohort published at `horizon`, beside the key's later cohorts: key, cohort_month,
    months_since (the horizon), cohort_size, value (retention at the horizon), compared_at,
    compared_value (its own retention there), baseline (the later cohorts' mean retention at compared_at), later_spread
    (their sample standard deviation), later_cohorts.

    compared_at is the latest month from 1 to the horizon at which at least `min_later`
    later cohorts are published (the horizon itself once they have reached it); a cohort
    without such a month, or not published there itself, has no row. Only published
    cells take part."""
    visible = published.filter(~F.col("suppressed")).select(key, "cohort_month", "months_since", "cohort_size",
                                                            "retention")
    at_h = visible.filter(F.col("months_since") == horizon).select(
        key, "cohort_month", "cohort_size", F.col("retention").alias("value"))
    later = visible.select(key, F.col("cohort_month").alias("later_month"), "months_since",
                           F.col("retention").alias("later_retention"))
    per_month = (
        at_h.select(key, "cohort_month").join(later, on=key, how="inner")
        .filter((F.col("later_month") > F.col("cohort_month")) & F.col("months_since").between(1, horizon))
        .groupBy(key, "cohort_month", "months_since")
        .agg(F.avg("later_retention").alias("baseline"), F.stddev_samp("later_retention").alias("later_spread"),
             F.count(F.lit(1)).alias("later_cohorts"))
        .filter(F.col("later_cohorts") >= min_later)
    )
    latest = per_month.groupBy(key, "cohort_month").agg(F.max("months_since").alias("months_since"))
    own = visible.select(key, "cohort_month", "months_since", F.col("retention").alias("compared_value"))
    return (
        per_month.join(latest, on=[key, "cohort_month", "months_since"], how="inner")
        .join(own, on=[key, "cohort_month", "months_since"], how="inner")
        .withColumnRenamed("months_since", "compared_at")
        .join(at_h, on=[key, "cohort_month"], how="inner")
        .select(key, "cohort_month", F.lit(horizon).alias("months_since"), "cohort_size", "value", "compared_at",
                "compared_value", "baseline", "later_spread", "later_cohorts")
    )
