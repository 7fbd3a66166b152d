"""The plan of the synthetic year: planted price changes and the price response, checked
without Spark on the plan's expected (noise-free) usage."""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import pytest

from jobs.generate import catalog_info, load_params
from transforms import economics
from transforms.synthetic.plan import Calendar, build_plan, price_steps


@pytest.fixture(scope="module")
def params():
    return load_params()


@pytest.fixture(scope="module")
def catalog():
    return catalog_info()


def test_price_steps_are_the_catalog_price_over_the_factors_still_to_come(catalog):
    cal = Calendar(dt.date(2025, 1, 6), dt.date(2025, 2, 9), 1.0)  # five ISO weeks, Monday to Sunday
    models = {m: catalog[m] for m in ("openai/gpt-4.1", "qwen/qwen3-coder")}
    first, second = models
    # Weeks 0-4 start Jan 6, 13, 20, 27 and Feb 3. A cut to half on Wednesday Jan 15 counts
    # from week 1's Monday; a rise of 1.5 from week 3. The catalog price is the last one, so
    # week 0 pays catalog / (0.5 x 1.5), weeks 1-2 catalog / 1.5, weeks 3-4 the catalog's.
    steps = price_steps([[first, "2025-01-15", 0.5], [first, "2025-01-27", 1.5]], cal, models)
    assert steps == {first: [1 / 0.75, 1 / 1.5, 1 / 1.5, 1.0, 1.0]}  # second model: no entry
    with pytest.raises(ValueError, match="not among the generator's models"):
        price_steps([["nobody/none", "2025-01-15", 0.5]], cal, models)
    with pytest.raises(ValueError, match="above 0"):
        price_steps([[second, "2025-01-15", 0]], cal, models)


def panel(plan):
    rows = [(m, w, t, s) for w, week in enumerate(plan.usage) for m, (t, s) in week.items() if t > 0 and s > 0]
    return (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
            np.log([r[3] / r[2] for r in rows]), np.log([r[2] for r in rows]))


def test_the_cross_section_lands_on_its_planted_slope(params, catalog):
    plan = build_plan(params, catalog, 1_000_000)
    tokens, spend = {}, {}
    for week in plan.usage:
        for m, (t, s) in week.items():
            tokens[m], spend[m] = tokens.get(m, 0) + t, spend.get(m, 0) + s
    priced = [m for m in tokens if spend[m] > 0]
    slope = np.polyfit(np.log([spend[m] / tokens[m] for m in priced]), np.log([tokens[m] for m in priced]), 1)[0]
    assert abs(slope - params["price_response"]["cross_section"]) < 1e-6
    # Appeal alone (no price factor across models) rises with price: the study's sign needs the factor.
    flat = copy.deepcopy(params)
    flat["price_response"] = {"within_model": params["price_response"]["within_model"]}
    assert build_plan(flat, catalog, 1_000_000).expected["cross_section_slope"] > 0


def test_the_within_fit_recovers_the_planted_response_on_noise_free_usage(params, catalog):
    planted = params["price_response"]["within_model"]
    fit = economics.within_fit(*panel(build_plan(params, catalog, 1_000_000)))
    assert fit.ci_low < planted < fit.ci_high and abs(fit.elasticity - planted) < 0.2
    # With no price changes, nothing moves a model's cost but its task mix: the fit then
    # finds no response near the planted one.
    still = copy.deepcopy(params)
    still["price_changes"] = []
    unchanged = economics.within_fit(*panel(build_plan(still, catalog, 1_000_000)))
    assert unchanged.elasticity is None or abs(unchanged.elasticity - planted) > 1.0


def test_a_week_without_any_active_model_is_a_clear_error(params, catalog):
    late = copy.deepcopy(params)
    late["models"] = [s for s in params["models"] if s[0] == "minimax/minimax-m2"]  # released 2025-10-23
    late["price_changes"] = [c for c in params["price_changes"] if c[0] == "minimax/minimax-m2"]
    with pytest.raises(ValueError, match="no model is active in the week of 2024-10-28"):
        build_plan(late, catalog, 1000)
