"""Effective cost versus usage: cost tables, quadrants, archetypes and elasticity fits.

Aggregation is Spark (from the compact aggregate); the fits run on the driver on
the small aggregated table (one row per model, or per model and week) with numpy.
Effective cost per 1M tokens = 1e6 x billed cost / tokens, BYOK traffic left out
of both sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from scipy import stats

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


def model_week_panel(cube: DataFrame) -> DataFrame:
    """model, week_start, segment, tokens, spend, cost_per_mtok (billed, positive) for the within-model fit."""
    rows = billed(cube).filter(F.col("segment") != "unknown")
    return (
        rows.groupBy("model", "week_start").agg(F.sum("tokens").alias("tokens"), F.sum("spend").alias("spend"),
                                                 F.first("segment").alias("segment"))
        .filter((F.col("tokens") > 0) & (F.col("spend") > 0))
        .withColumn("cost_per_mtok", F.col("spend") * 1e6 / F.col("tokens"))
    )


@dataclass
class Fit:
    """One fitted slope with its uncertainty."""

    elasticity: float | None
    std_error: float | None
    std_error_hc1: float | None
    ci_low: float | None
    ci_high: float | None
    r2: float | None
    n_models: int
    n_obs: int
    note: str | None = None


def _none_fit(n_models: int, n_obs: int, note: str) -> Fit:
    return Fit(None, None, None, None, None, None, n_models, n_obs, note)


def ols_fit(log_cost: np.ndarray, log_tokens: np.ndarray, weights: np.ndarray | None = None) -> Fit:
    """Slope of log_tokens on log_cost (with an intercept), by OLS or WLS.

    Classical and HC1 standard errors; the 95% interval uses Student's t with
    n - 2 degrees of freedom and the classical error. Fewer than 3 points, or no
    spread in cost, gives a Fit with a note instead of numbers.
    """
    x, y = np.asarray(log_cost, float), np.asarray(log_tokens, float)
    n = len(x)
    if n < MIN_MODELS:
        return _none_fit(n, n, f"fewer than {MIN_MODELS} models with tokens and cost above zero: no fit")
    if np.ptp(x) == 0:
        return _none_fit(n, n, "every model has the same cost: the slope is not identified")
    w = np.ones(n) if weights is None else np.asarray(weights, float) / np.mean(weights)
    X = np.column_stack([np.ones(n), x])
    sw = np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    resid = yw - Xw @ beta
    xtx_inv = np.linalg.inv(Xw.T @ Xw)
    dof = n - 2
    sigma2 = resid @ resid / dof if dof > 0 else float("nan")
    se = math.sqrt(sigma2 * xtx_inv[1, 1]) if dof > 0 else float("nan")
    meat = (Xw * resid[:, None]).T @ (Xw * resid[:, None])
    hc1 = math.sqrt((xtx_inv @ meat @ xtx_inv)[1, 1] * n / dof) if dof > 0 else float("nan")
    ybar = np.sum(w * y) / np.sum(w)
    r2 = 1.0 - np.sum(w * (y - X @ beta) ** 2) / np.sum(w * (y - ybar) ** 2) if np.ptp(y) > 0 else 1.0
    t = stats.t.ppf(0.975, dof) if dof > 0 else float("nan")
    return Fit(float(beta[1]), se, hc1, float(beta[1] - t * se), float(beta[1] + t * se), float(r2), n, n)


def within_fit(models: np.ndarray, weeks: np.ndarray, log_cost: np.ndarray, log_tokens: np.ndarray) -> Fit:
    """Two-way fixed effects (model and week) slope of log tokens on log cost, errors clustered by model.

    Dummy-variable regression on the small panel; the clustered variance is
    (X'X)^-1 (sum_g X_g' u_g u_g' X_g) (X'X)^-1 x G/(G-1) x (N-1)/(N-K), and the
    interval uses Student's t with G - 1 degrees of freedom.
    """
    models, weeks = np.asarray(models), np.asarray(weeks)
    x, y = np.asarray(log_cost, float), np.asarray(log_tokens, float)
    m_ids, m_idx = np.unique(models, return_inverse=True)
    w_ids, w_idx = np.unique(weeks, return_inverse=True)
    n, g = len(y), len(m_ids)
    if g < MIN_MODELS:
        return _none_fit(g, n, f"fewer than {MIN_MODELS} models in the panel: no fit")
    dummies_m = np.eye(g)[m_idx]
    dummies_w = np.eye(len(w_ids))[w_idx][:, 1:]
    X = np.column_stack([x, dummies_m, dummies_w])
    beta, _, rank, _ = np.linalg.lstsq(X, y, rcond=None)
    k = rank
    if n - k <= 0:
        return _none_fit(g, n, "as many parameters as observations: no fit")
    resid = y - X @ beta
    xtx_inv = np.linalg.pinv(X.T @ X)
    meat = np.zeros((X.shape[1], X.shape[1]))
    for gi in range(g):
        rows = m_idx == gi
        score = X[rows].T @ resid[rows]
        meat += np.outer(score, score)
    scale = g / (g - 1) * (n - 1) / (n - k)
    se = math.sqrt(max(0.0, (xtx_inv @ meat @ xtx_inv)[0, 0] * scale))
    sigma2 = resid @ resid / (n - k)
    classical = math.sqrt(max(0.0, sigma2 * xtx_inv[0, 0]))
    t = stats.t.ppf(0.975, g - 1)
    # Within R^2: variation left after the fixed effects that the price term explains.
    X_fe = np.column_stack([dummies_m, dummies_w])
    fe_resid = y - X_fe @ np.linalg.lstsq(X_fe, y, rcond=None)[0]
    r2 = 1.0 - (resid @ resid) / (fe_resid @ fe_resid) if fe_resid @ fe_resid > 0 else None
    if np.allclose(x - X_fe @ np.linalg.lstsq(X_fe, x, rcond=None)[0], 0):
        return _none_fit(g, n, "no price change within models: the within slope is not identified")
    return Fit(float(beta[0]), classical, se, float(beta[0] - t * se), float(beta[0] + t * se),
               None if r2 is None else float(r2), g, n,
               "std_error_hc1 holds the model-clustered error used for the interval")


ELASTICITY_SCHEMA = T.StructType([
    T.StructField("scope", T.StringType(), False),
    T.StructField("method", T.StringType(), False),
    T.StructField("elasticity", T.DoubleType(), True),
    T.StructField("std_error", T.DoubleType(), True),
    T.StructField("std_error_hc1", T.DoubleType(), True),
    T.StructField("ci_low", T.DoubleType(), True),
    T.StructField("ci_high", T.DoubleType(), True),
    T.StructField("r2", T.DoubleType(), True),
    T.StructField("n_models", T.LongType(), False),
    T.StructField("n_obs", T.LongType(), False),
    T.StructField("note", T.StringType(), True),
])
# The fits' scopes: every model, the open-weights ones, the closed ones (by segment).
SCOPES = {"all": None, "open": ["oss_china", "oss_row"], "closed": ["closed"]}


def elasticity_rows(models_pdf, panel_pdf) -> list[tuple]:
    """The fits of every scope and method, on the driver (tens to thousands of points)."""
    rows = []
    for scope, segments in SCOPES.items():
        m = models_pdf if segments is None else models_pdf[models_pdf["segment"].isin(segments)]
        p = panel_pdf if segments is None else panel_pdf[panel_pdf["segment"].isin(segments)]
        x, y = np.log(m["cost_per_mtok"].to_numpy(float)), np.log(m["tokens"].to_numpy(float))
        fits = {
            "ols": ols_fit(x, y),
            "token_weighted": ols_fit(x, y, m["tokens"].to_numpy(float)) if len(m) else
            ols_fit(x, y),
            "within_model_week": within_fit(
                p["model"].to_numpy(), p["week_start"].astype(str).to_numpy(),
                np.log(p["cost_per_mtok"].to_numpy(float)), np.log(p["tokens"].to_numpy(float))),
        }
        for method, f in fits.items():
            rows.append((scope, method, f.elasticity, f.std_error, f.std_error_hc1, f.ci_low, f.ci_high, f.r2,
                         f.n_models, f.n_obs, f.note))
    return rows
