"""Cohort retention matrices, and the inputs of their signals' tests (activity retention).

An account belongs to the cohort of the calendar month of its first request to a
model (or author); retention at months_since = k is the share of the cohort active
in month k, a return after a gap counting again. Everything is computed from the
distinct (account, model, month) activity table, never from raw requests, and
the cohort x month grid is built per cohort (never accounts x months). The matrices
are Spark's; the inputs of the signals' tests are built from a matrix's cells (a few
thousand rows) on the driver, with pandas.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
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


def signal_inputs(cells: DataFrame, published: DataFrame, key: str) -> DataFrame:
    """The published matrix with each cell's stayed_accounts (from its retention_cells): all
    the signals' tests read. One row per cell of the matrix (a few thousand at most: keys x
    cohorts x months), so the pairs and candidates below are built from it on the driver."""
    keys = [key, "cohort_month", "months_since"]
    return published.join(cells.select(*keys, "stayed_accounts"), on=keys, how="left").select(
        *keys, "cohort_size", "active_accounts", "retention", "suppressed", "stayed_accounts")


COUNTS = ("cohort_size", "active_accounts", "stayed_accounts")


def _visible(matrix: pd.DataFrame) -> pd.DataFrame:
    """The published cells of a matrix (signal_inputs, as pandas): a suppressed cell takes no
    part. Their counts are whole numbers again (a column with a suppressed cell's null
    comes from Spark as floats)."""
    visible = matrix[~matrix["suppressed"].astype(bool)]
    return visible.astype({c: "int64" for c in COUNTS if c in visible.columns})


def boomerang_pairs(matrix: pd.DataFrame, key: str) -> pd.DataFrame:
    """Every two consecutive months (k - 1, k), k >= 2, of a cohort whose cells are both published,
    with the counts McNemar's test takes: key, cohort_month, months_since (k), cohort_size,
    value (retention at k), baseline (at k - 1), compared_at (k - 1), accounts_lost (active at
    k - 1, not at k), accounts_gained (active at k, not at k - 1).

    `matrix`: signal_inputs as pandas. A cell suppressed there is never part of a pair."""
    keys = [key, "cohort_month", "months_since"]
    cur = _visible(matrix)
    prev = cur[keys + ["active_accounts"]].rename(columns={"active_accounts": "previous_accounts"})
    prev = prev.assign(months_since=prev["months_since"] + 1)
    m = cur[cur["months_since"] >= 2].merge(prev, on=keys, how="inner")
    return pd.DataFrame({
        key: m[key], "cohort_month": m["cohort_month"], "months_since": m["months_since"],
        "cohort_size": m["cohort_size"],
        "value": m["active_accounts"] / m["cohort_size"],
        "baseline": m["previous_accounts"] / m["cohort_size"],
        "compared_at": m["months_since"] - 1,
        "accounts_lost": m["previous_accounts"] - m["stayed_accounts"],
        "accounts_gained": m["active_accounts"] - m["stayed_accounts"],
    })


def foundational_candidates(matrix: pd.DataFrame, key: str, horizon: int, min_later: int) -> pd.DataFrame:
    """Every cohort published at `horizon`, beside the key's later cohorts: key, cohort_month,
    months_since (the horizon), cohort_size, value (retention at the horizon), compared_at,
    compared_value (its own retention there), baseline (the later cohorts' mean retention at compared_at), later_spread
    (their sample standard deviation), later_cohorts.

    compared_at is the latest month from 1 to the horizon at which at least `min_later`
    later cohorts are published (the horizon itself once they have reached it); a cohort
    without such a month, or not published there itself, has no row. `matrix`:
    signal_inputs (or any published matrix) as pandas; only published cells take part."""
    visible = _visible(matrix)
    at_h = (visible.loc[visible["months_since"] == horizon, [key, "cohort_month", "cohort_size", "retention"]]
            .rename(columns={"retention": "value"}))
    later = visible[[key, "cohort_month", "months_since", "retention"]].rename(
        columns={"cohort_month": "later_month", "retention": "later_retention"})
    pairs = at_h[[key, "cohort_month"]].merge(later, on=key, how="inner")
    pairs = pairs[(pairs["later_month"] > pairs["cohort_month"]) & pairs["months_since"].between(1, horizon)]
    per_month = (
        pairs.groupby([key, "cohort_month", "months_since"], as_index=False)
        .agg(baseline=("later_retention", "mean"), later_spread=("later_retention", "std"),
             later_cohorts=("later_retention", "size"))
    )
    per_month = per_month[per_month["later_cohorts"] >= min_later]
    latest = per_month.groupby([key, "cohort_month"], as_index=False)["months_since"].max()
    own = visible[[key, "cohort_month", "months_since", "retention"]].rename(columns={"retention": "compared_value"})
    out = (
        per_month.merge(latest, on=[key, "cohort_month", "months_since"], how="inner")
        .merge(own, on=[key, "cohort_month", "months_since"], how="inner")
        .rename(columns={"months_since": "compared_at"})
        .merge(at_h, on=[key, "cohort_month"], how="inner")
        .assign(months_since=horizon)
    )
    return out[[key, "cohort_month", "months_since", "cohort_size", "value", "compared_at", "compared_value",
                "baseline", "later_spread", "later_cohorts"]].reset_index(drop=True)
