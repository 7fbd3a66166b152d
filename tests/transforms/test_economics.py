"""Cost/usage tables, quadrants, archetypes and the elasticity fits."""

from __future__ import annotations

import numpy as np
from chispa import assert_approx_df_equality

from jobs.common.session import local_frame
from transforms import economics

CUBE = "category string, model string, author string, segment string, is_byok boolean, tokens long, spend double"


def test_exact_power_law_recovers_its_exponent():
    cost = np.array([0.05, 0.2, 0.9, 3.0, 12.0, 40.0])
    tokens = 7e8 * cost ** -0.06
    fit = economics.ols_fit(np.log(cost), np.log(tokens))
    assert abs(fit.elasticity - (-0.06)) < 1e-9
    assert fit.r2 > 1 - 1e-12 and fit.n_models == 6


def test_noisy_power_law_inside_its_interval():
    rng = np.random.default_rng(2024)
    cost = np.exp(rng.uniform(-3, 3, 60))
    tokens = np.exp(18 - 0.5 * np.log(cost) + rng.normal(0, 0.8, 60))
    fit = economics.ols_fit(np.log(cost), np.log(tokens))
    assert fit.ci_low < -0.5 < fit.ci_high
    assert fit.std_error_kind == "classical"
    # Classical standard error by hand: sqrt(s^2 / sum (x - xbar)^2).
    x, y = np.log(cost), np.log(tokens)
    b = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    resid = y - (y.mean() + b * (x - x.mean()))
    se = np.sqrt(np.sum(resid**2) / (len(x) - 2) / np.sum((x - x.mean()) ** 2))
    assert abs(fit.elasticity - b) < 1e-12 and abs(fit.std_error - se) < 1e-12


def test_three_models_worked_by_hand():
    # log cost 0, 1, 2 and log tokens 10, 9.5, 9.2: slope = sum dx dy / sum dx^2 = -0.8 / 2;
    # residuals 1/30, -2/30, 1/30 (SSR 1/150, one degree of freedom); sum (y - ybar)^2 = 0.98/3.
    x, y = np.array([0.0, 1.0, 2.0]), np.array([10.0, 9.5, 9.2])
    fit = economics.ols_fit(x, y)
    assert abs(fit.elasticity - (-0.4)) < 1e-12
    assert abs(fit.std_error - np.sqrt(1 / 150 / 2)) < 1e-12  # sqrt(s^2 / sum dx^2)
    assert abs(fit.r2 - (1 - (1 / 150) / (0.98 / 3))) < 1e-12
    half_width = 12.706204736174703 * np.sqrt(1 / 300)  # t(0.975, 1 df)
    assert abs(fit.ci_low - (-0.4 - half_width)) < 1e-9 and abs(fit.ci_high - (-0.4 + half_width)) < 1e-9
    # HC1: sum dx^2 e^2 / (sum dx^2)^2 x n / (n - 2) = (2 / 900) / 4 x 3.
    robust = economics.ols_fit(x, y, kind="HC1")
    assert robust.std_error_kind == "HC1" and abs(robust.std_error - np.sqrt(2 / 900 / 4 * 3)) < 1e-12
    assert robust.elasticity == fit.elasticity


def test_fits_equal_the_sandwich_formulas_written_out():
    """The library's numbers against the textbook formulas, computed here with numpy alone."""
    rng = np.random.default_rng(11)
    n = 40
    x = rng.uniform(-3, 3, n)
    y = 4 - 0.3 * x + rng.normal(0, 0.5 + 0.3 * np.abs(x), n)  # heteroskedastic
    w = rng.uniform(0.5, 5, n)
    X = np.column_stack([np.ones(n), x])
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    e = (y - X @ beta) * sw
    bread = np.linalg.inv((X * w[:, None]).T @ X)
    meat = (X * (sw * e)[:, None]).T @ (X * (sw * e)[:, None])
    hc1 = np.sqrt((bread @ meat @ bread)[1, 1] * n / (n - 2))
    fit = economics.ols_fit(x, y, w, kind="HC1")
    assert abs(fit.elasticity - beta[1]) < 1e-10 and abs(fit.std_error - hc1) < 1e-10


def test_within_fit_equals_the_clustered_formula_written_out():
    rng = np.random.default_rng(3)
    models = np.repeat([f"m{i}" for i in range(8)], 10)
    weeks = np.tile(np.arange(10), 8)
    x = rng.normal(0, 0.5, 80) + np.repeat(rng.normal(0, 1, 8), 10)
    y = -0.7 * x + np.repeat(rng.normal(0, 2, 8), 10) + np.tile(rng.normal(0, 1, 10), 8) + rng.normal(0, 0.3, 80)
    m_idx, w_idx = np.unique(models, return_inverse=True)[1], weeks
    X = np.column_stack([x, np.eye(8)[m_idx], np.eye(10)[w_idx][:, 1:]])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    u = y - X @ beta
    bread = np.linalg.inv(X.T @ X)
    meat = sum(np.outer(X[m_idx == g].T @ u[m_idx == g], X[m_idx == g].T @ u[m_idx == g]) for g in range(8))
    k = X.shape[1]
    se = np.sqrt((bread @ meat @ bread)[0, 0] * 8 / 7 * (80 - 1) / (80 - k))
    fit = economics.within_fit(models, weeks, x, y)
    assert abs(fit.elasticity - beta[0]) < 1e-10 and abs(fit.std_error - se) < 1e-10
    assert fit.std_error_kind == "cluster(model)" and fit.n_models == 8 and fit.n_obs == 80
    t = 2.3646242515927844  # Student's t(0.975) with G - 1 = 7 degrees of freedom
    assert abs(fit.ci_low - (beta[0] - t * se)) < 1e-9 and abs(fit.ci_high - (beta[0] + t * se)) < 1e-9


def test_weighted_fit_follows_the_heavy_points():
    x = np.log(np.array([1.0, 2.0, 4.0, 8.0]))
    y = np.array([10.0, 9.0, 8.0, 20.0])
    unweighted = economics.ols_fit(x, y)
    heavy_first_three = economics.ols_fit(x, y, np.array([1e6, 1e6, 1e6, 1.0]))
    assert abs(heavy_first_three.elasticity - (-1 / np.log(2))) < 1e-4  # the line through the first three
    assert unweighted.elasticity > 0


def test_too_few_models_is_a_row_with_a_note():
    fit = economics.ols_fit(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    assert fit.elasticity is None and "fewer than 3 models" in fit.note and fit.n_models == 2
    flat = economics.ols_fit(np.zeros(4), np.arange(4.0))
    assert flat.elasticity is None and "same cost" in flat.note


def test_within_fit_finds_the_planted_slope_the_cross_section_misses():
    rng = np.random.default_rng(5)
    models, weeks, xs, ys = [], [], [], []
    for m in range(12):
        quality = rng.normal(0, 1)
        base_price = 1.5 * quality + rng.normal(0, 0.3)  # better models cost more ...
        for w in range(20):
            x = base_price + rng.normal(0, 0.4)  # ... and change price week to week
            y = 5 + 3.0 * quality - 0.8 * x + 0.05 * w + rng.normal(0, 0.1)  # within-model slope -0.8
            models.append(f"m{m}"), weeks.append(w), xs.append(x), ys.append(y)
    within = economics.within_fit(np.array(models), np.array(weeks), np.array(xs), np.array(ys))
    assert within.ci_low < -0.8 < within.ci_high and abs(within.elasticity + 0.8) < 0.1
    per_model = {m: (np.mean([x for mm, x in zip(models, xs, strict=False) if mm == m]), np.mean([y for mm, y in zip(models, ys, strict=False)
                                                                                      if mm == m])) for m in set(models)}
    cross = economics.ols_fit(np.array([v[0] for v in per_model.values()]), np.array([v[1] for v in per_model.values()]))
    assert cross.elasticity > 0  # quality drives both price and use: the cross-section slope points the other way


def test_quadrants_on_hand_computed_points(spark):
    cube = local_frame(
        spark,
        [
            ("Programming", "m", "a", "closed", False, 1_000_000, 2.0),   # 2.00 $/M, heavy
            ("Roleplay", "m", "a", "closed", False, 800_000, 0.2),        # 0.25, heavy
            ("Legal", "m", "a", "closed", False, 10_000, 0.03),           # 3.00, light
            ("Trivia", "m", "a", "closed", False, 5_000, 0.0005),         # 0.10, light
            ("Trivia", "m", "a", "closed", True, 5_000, 9.0),             # BYOK: left out
            (None, "m", "a", "closed", False, 99_000_000, 1.0),           # unlabelled: left out
        ],
        CUBE,
    )
    out = economics.category_cost_usage(cube).select("category", "tokens", "cost_per_mtok", "quadrant",
                                                      "cost_split", "usage_split")
    # Medians over the four categories: cost (0.25 + 2.0) / 2 = 1.125, tokens (10k + 800k) / 2 = 405k.
    expected = local_frame(
        spark,
        [("Programming", 1_000_000, 2.0, "premium", 1.125, 405_000.0),
         ("Roleplay", 800_000, 0.25, "mass_market", 1.125, 405_000.0),
         ("Legal", 10_000, 3.0, "specialist", 1.125, 405_000.0),
         ("Trivia", 5_000, 0.1, "niche", 1.125, 405_000.0)],
        "category string, tokens long, cost_per_mtok double, quadrant string, cost_split double, usage_split double",
    )
    assert_approx_df_equality(out, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)
    fixed = economics.category_cost_usage(cube, cost_threshold=0.73).collect()
    assert {r.category: r.quadrant for r in fixed}["Roleplay"] == "mass_market"


def test_archetypes_on_hand_computed_points(spark):
    cube = local_frame(
        spark,
        [
            (None, "a/leader", "a", "closed", False, 900, 0.0018),     # 2.0 $/M
            (None, "b/giant", "b", "oss_china", False, 800, 0.00008),  # 0.1
            (None, "c/special", "c", "closed", False, 20, 0.0007),     # 35
            (None, "d/tail", "d", "oss_row", False, 10, 0.0000001),    # 0.01
            (None, "e/unknown", "e", "unknown", False, 5000, 1.0),     # not in the catalog: left out
        ],
        CUBE,
    )
    out = {r.model: r.archetype for r in economics.model_cost_usage(cube).collect()}
    assert out == {"a/leader": "premium_leader", "b/giant": "efficient_giant", "c/special": "premium_specialist",
                   "d/tail": "long_tail"}


def test_r2_keeps_its_digits_near_zero():
    # y is orthogonal to x but for a tiny slope: R^2 = b^2 sum dx^2 / sum dy^2, worked
    # from the exact sums; 1 - SSR/TSS would keep only about 8 of its digits.
    x = np.array([-1.0, 0.0, 1.0, -1.0, 0.0, 1.0])
    y = np.array([1.0, -2.0, 1.0, 1.0, -2.0, 1.0]) + 1e-4 * x
    fit = economics.ols_fit(x, y)
    assert abs(fit.elasticity - 1e-4) < 1e-15
    expected = (1e-4) ** 2 * 4 / (12 + (1e-4) ** 2 * 4)  # sum dx^2 = 4, sum dy^2 = 12 + b^2 x 4
    assert abs(fit.r2 - expected) / expected < 1e-12
