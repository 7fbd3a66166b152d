"""Effective cost versus usage: cost tables, quadrants, archetypes and elasticity fits.

Aggregation is Spark (from the compact aggregate); the fits run on the driver on
the small aggregated table (one row per model, or per model and week): this module
builds the data, statsmodels fits it.
Effective cost per 1M tokens = 1e6 x billed cost / tokens, BYOK traffic left out
of both sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

QUADRANTS = {(True, True): "premium", (False, True): "mass_market", (True, False): "specialist",
             (False, False): "niche"}
ARCHETYPES = {(True, True): "premium_leader", (False, True): "efficient_giant",
              (True, False): "premium_specialist", (False, False): "long_tail"}
MIN_MODELS = 3


def billed(cube: DataFrame) -> DataFrame:
    """Cube rows of billed (non-BYOK) traffic."""
    return cube.filter(~F.col("is_byok"))


def cost_usage(rows: DataFrame, key: str, extra: list[Column] | None = None) -> DataFrame:
    """key, tokens, spend, cost_per_mtok (rows with tokens > 0)."""
    return (
        rows.groupBy(key).agg(F.sum("tokens").alias("tokens"), F.sum("spend").alias("spend"), *(extra or []))
        .filter(F.col("tokens") > 0)
        .withColumn("cost_per_mtok", F.col("spend") * 1e6 / F.col("tokens"))
    )


def split_label(labels: dict, cost_split: Column, usage_split: Column) -> Column:
    """The quadrant name: high cost = cost above the cost split, high use = tokens above the usage split."""
    high_cost = F.col("cost_per_mtok") > cost_split
    high_use = F.col("tokens") > usage_split
    out = None
    for (hc, hu), name in labels.items():
        cond = (high_cost if hc else ~high_cost) & (high_use if hu else ~high_use)
        out = F.when(cond, F.lit(name)) if out is None else out.when(cond, F.lit(name))
    return out


def with_split(df: DataFrame, labels: dict, name: str, cost_threshold: float | None,
               usage_threshold: float | None) -> DataFrame:
    """Add cost_split, usage_split (the medians over the rows unless thresholds are given) and `name`."""
    medians = df.agg(F.median("cost_per_mtok").alias("_mc"), F.median("tokens").alias("_mu"))
    cost = F.lit(cost_threshold) if cost_threshold is not None else F.col("_mc")
    usage = F.lit(float(usage_threshold)) if usage_threshold is not None else F.col("_mu")
    return (
        df.crossJoin(F.broadcast(medians))  # one row of medians
        .withColumns({"cost_split": cost.cast("double"), "usage_split": usage.cast("double")})
        .withColumn(name, split_label(labels, F.col("cost_split"), F.col("usage_split")))
        .drop("_mc", "_mu")
    )


def category_cost_usage(cube: DataFrame, cost_threshold: float | None = None,
                        usage_threshold: float | None = None) -> DataFrame:
    """category, tokens, spend, cost_per_mtok, quadrant, cost_split, usage_split (labelled, billed traffic)."""
    rows = billed(cube).filter(F.col("category").isNotNull())
    return with_split(cost_usage(rows, "category"), QUADRANTS, "quadrant", cost_threshold, usage_threshold)


def model_cost_usage(cube: DataFrame, cost_threshold: float | None = None,
                     usage_threshold: float | None = None) -> DataFrame:
    """model, author, segment, tokens, spend, cost_per_mtok, archetype (catalog models, billed traffic)."""
    rows = billed(cube).filter(F.col("segment") != "unknown")
    per_model = cost_usage(rows, "model", [F.first("segment").alias("segment"), F.first("author").alias("author")])
    return with_split(per_model.filter(F.col("spend") > 0), ARCHETYPES, "archetype", cost_threshold,
                      usage_threshold)


# A model-week with few requests is left out of the within fit: there a few long requests
# raise tokens and, cached, lower the cost per token together, a spurious negative slope
# (division bias) that dwarfs the price response.
MIN_PANEL_REQUESTS = 50


def model_week_panel(cube: DataFrame, min_requests: int = MIN_PANEL_REQUESTS) -> DataFrame:
    """model, week_start, segment, requests, tokens, spend, cost_per_mtok for the within-model fit:
    billed traffic, positive tokens and spend, at least min_requests requests."""
    rows = billed(cube).filter(F.col("segment") != "unknown")
    return (
        rows.groupBy("model", "week_start").agg(F.sum("requests").alias("requests"), F.sum("tokens").alias("tokens"),
                                                 F.sum("spend").alias("spend"), F.first("segment").alias("segment"))
        .filter((F.col("tokens") > 0) & (F.col("spend") > 0) & (F.col("requests") >= min_requests))
        .withColumn("cost_per_mtok", F.col("spend") * 1e6 / F.col("tokens"))
    )


@dataclass
class Fit:
    """One fitted slope with its uncertainty; std_error_kind names the error the interval uses."""

    elasticity: float | None
    std_error: float | None
    std_error_kind: str
    ci_low: float | None
    ci_high: float | None
    r2: float | None
    n_models: int
    n_obs: int
    note: str | None = None


def _none_fit(kind: str, n_models: int, n_obs: int, note: str) -> Fit:
    return Fit(None, None, kind, None, None, None, n_models, n_obs, note)


def _slope_fit(res, column: int, kind: str, r2: float | None, n_models: int, note: str) -> Fit:
    """The slope in `column` of a statsmodels result, its error and its 95% interval."""
    low, high = res.conf_int(0.05)[column]
    return Fit(float(res.params[column]), float(res.bse[column]), kind, float(low), float(high),
               None if r2 is None else float(r2), n_models, int(res.nobs), note)


def ols_fit(log_cost: np.ndarray, log_tokens: np.ndarray, weights: np.ndarray | None = None,
            kind: str = "classical", note: str | None = None) -> Fit:
    """Slope of log_tokens on log_cost (with an intercept), by statsmodels' OLS, or WLS with weights.

    kind is the standard error: `classical` or `HC1` (White's, with n/(n-2)); the 95%
    interval uses Student's t with n - 2 degrees of freedom and that error. Fewer than
    3 points, or no spread in cost, gives a Fit with a note instead of numbers.
    """
    x, y = np.asarray(log_cost, float), np.asarray(log_tokens, float)
    n = len(x)
    if n < MIN_MODELS:
        return _none_fit(kind, n, n, f"fewer than {MIN_MODELS} models with tokens and cost above zero: no fit")
    if np.ptp(x) == 0:
        return _none_fit(kind, n, n, "every model has the same cost: the slope is not identified")
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    X = sm.add_constant(x, has_constant="add")
    model = sm.OLS(y, X) if weights is None else sm.WLS(y, X, weights=w)
    res = model.fit(use_t=True) if kind == "classical" else model.fit(cov_type=kind, use_t=True)
    return _slope_fit(res, 1, kind, explained_share(res.params[1], x, y, w), n, note)


def explained_share(slope: float, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """R^2 of a one-regressor fit with an intercept, as explained / total sum of squares: the
    explained part is slope^2 x sum w (x - mean)^2, so an R^2 near zero keeps its digits
    (1 - SSR / TSS would lose them to cancellation)."""
    xc, yc = x - np.average(x, weights=w), y - np.average(y, weights=w)
    total = float(np.sum(w * yc**2))
    return float(slope**2 * np.sum(w * xc**2) / total) if total > 0 else 1.0


WITHIN_KIND = "cluster(model)"


def within_fit(models: np.ndarray, weeks: np.ndarray, log_cost: np.ndarray, log_tokens: np.ndarray,
               min_requests: int | None = None) -> Fit:
    """Two-way fixed effects (model and week) slope of log tokens on log cost, errors clustered by model.

    statsmodels' OLS on the slope and a dummy per model and per week (the first week's
    left out), with its cluster-robust (CRV1) covariance and documented small-sample
    correction G/(G-1) x (N-1)/(N-K), where K counts every dummy; the interval uses
    Student's t with G - 1 degrees of freedom. r2 is the within R^2: the share of
    what the fixed effects leave that the slope explains.
    """
    models, weeks = np.asarray(models), np.asarray(weeks)
    x, y = np.asarray(log_cost, float), np.asarray(log_tokens, float)
    m_ids, m_idx = np.unique(models, return_inverse=True)
    w_ids, w_idx = np.unique(weeks, return_inverse=True)
    n, g = len(y), len(m_ids)
    if g < MIN_MODELS:
        return _none_fit(WITHIN_KIND, g, n, f"fewer than {MIN_MODELS} models in the panel: no fit")
    effects = np.column_stack([np.eye(g)[m_idx], np.eye(len(w_ids))[w_idx][:, 1:]])
    if n <= effects.shape[1] + 1:
        return _none_fit(WITHIN_KIND, g, n, "as many parameters as observations: no fit")
    fe_only = sm.OLS(y, effects).fit()
    x_left = x - sm.OLS(x, effects).fit().fittedvalues
    if np.allclose(x_left, 0):
        return _none_fit(WITHIN_KIND, g, n, "no cost change within models: the within slope is not identified")
    res = sm.OLS(y, np.column_stack([x, effects])).fit(cov_type="cluster", cov_kwds={"groups": m_idx}, use_t=True)
    # What the slope explains of what the effects leave (Frisch-Waugh: the slope^2 x the
    # cost variation the effects leave), over what they leave of log tokens.
    y_left = fe_only.resid
    r2 = float(res.params[0] ** 2 * np.sum(x_left**2) / np.sum(y_left**2)) if np.sum(y_left**2) > 0 else None
    span = {mid: np.ptp(x[m_idx == i]) for i, mid in enumerate(m_ids)}
    moving = sum(v > math.log(1.2) for v in span.values())
    thin = f"model-weeks with under {min_requests} requests left out; " if min_requests else ""
    note = (f"identified by changes in a model's own weekly effective cost (list-price changes and task-mix "
            f"shifts), net of model and week effects: {moving} of {g} models' cost spans more than 20%; {thin}"
            f"errors clustered by model, small-sample correction G/(G-1) x (N-1)/(N-K), t with G-1 df")
    return _slope_fit(res, 0, WITHIN_KIND, r2, g, note)


CROSS_SECTION_NOTE = ("across models: price and quality move together (better models cost more), "
                      "so the slope is an association, not a demand curve")
ELASTICITY_SCHEMA = T.StructType([
    T.StructField("scope", T.StringType(), False),
    T.StructField("method", T.StringType(), False),
    T.StructField("elasticity", T.DoubleType(), True),
    T.StructField("std_error", T.DoubleType(), True),
    T.StructField("std_error_kind", T.StringType(), False),
    T.StructField("ci_low", T.DoubleType(), True),
    T.StructField("ci_high", T.DoubleType(), True),
    T.StructField("r2", T.DoubleType(), True),
    T.StructField("n_models", T.LongType(), False),
    T.StructField("n_obs", T.LongType(), False),
    T.StructField("note", T.StringType(), True),
])
# The fits' scopes: every model, the open-weights ones, the closed ones (by segment).
SCOPES = {"all": None, "open": ["oss_china", "oss_row"], "closed": ["closed"]}


def elasticity_rows(models_pdf, panel_pdf, min_requests: int = MIN_PANEL_REQUESTS) -> list[tuple]:
    """The fits of every scope and method, on the driver (tens to thousands of points)."""
    rows = []
    for scope, segments in SCOPES.items():
        m = models_pdf if segments is None else models_pdf[models_pdf["segment"].isin(segments)]
        p = panel_pdf if segments is None else panel_pdf[panel_pdf["segment"].isin(segments)]
        x, y = np.log(m["cost_per_mtok"].to_numpy(float)), np.log(m["tokens"].to_numpy(float))
        fits = {
            "ols": ols_fit(x, y, note=CROSS_SECTION_NOTE),
            "token_weighted": ols_fit(x, y, m["tokens"].to_numpy(float), kind="HC1",
                                      note=CROSS_SECTION_NOTE + "; weighted by tokens, heteroskedasticity-robust"),
            "within_model_week": within_fit(
                p["model"].to_numpy(), p["week_start"].astype(str).to_numpy(),
                np.log(p["cost_per_mtok"].to_numpy(float)), np.log(p["tokens"].to_numpy(float)), min_requests),
        }
        for method, f in fits.items():
            rows.append((scope, method, f.elasticity, f.std_error, f.std_error_kind, f.ci_low, f.ci_high, f.r2,
                         f.n_models, f.n_obs, f.note))
    return rows
