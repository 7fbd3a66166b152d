"""Cohort signals with their evidence: which boomerangs and foundational cohorts chance does not explain.

The inputs are small (one row per pair of published cohort cells, one per cohort), built
from a matrix's cells by `transforms.cohorts.boomerang_pairs` and `foundational_candidates`;
the tests run here, on pandas, with scipy.

- **Boomerang** (month k against month k - 1, k >= 2): the same accounts are measured in
  both months, so the test is McNemar's, exact and one-sided: of the b + c accounts active
  in one month and not the other (b lost, c gained), c ~ Binomial(b + c, 1/2) when
  retention does not change; p = P(X >= c). The statistic shown is McNemar's signed
  (c - b) / sqrt(b + c), whose square is the chi-square form.
- **Foundational** (a cohort against the key's later cohorts at the same month since
  first use): z = (own - mean) / sqrt(own (1 - own) / n + s^2 (1 + 1/m)), with own the
  cohort's retention over its n accounts, mean and s the mean and sample standard
  deviation of the m later cohorts' retention; the first term is the cohort's own
  sampling error, the second the spread a further later cohort would show. One-sided
  p from the normal distribution.
- Every test of a table is one family: Benjamini-Hochberg q-values over all of them.
  A signal passes when q <= fdr_level and its effect is one that matters (a rise of at
  least min_rise; a retention of at least min_level and lift x the later cohorts').

Privacy: a pair is tested only on cells published in the matrix. Its discordant counts
are new numbers; one between 1 and k_min - 1 is a small cell, so such a row keeps its
verdict but publishes no counts, statistic, p or q (`evidence_suppressed`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

BOOMERANG_TEST = "mcnemar_exact"
FOUNDATIONAL_TEST = "prediction_z"

# The gold table's columns after the key (model or author), in order, with Spark types.
COLUMNS = [
    ("cohort_month", "date"), ("signal", "string"), ("months_since", "int"), ("value", "double"),
    ("baseline", "double"), ("compared_at", "int"), ("compared_value", "double"), ("cohort_size", "long"),
    ("later_cohorts", "long"), ("later_spread", "double"), ("accounts_lost", "long"), ("accounts_gained", "long"),
    ("test", "string"), ("statistic", "double"), ("p_value", "double"), ("q_value", "double"),
    ("fdr_level", "double"), ("tests", "long"), ("passes", "boolean"), ("evidence_suppressed", "boolean"),
]


def schema(key: str) -> str:
    """The gold table's schema as a Spark DDL string."""
    return ", ".join([f"{key} string"] + [f"{name} {kind}" for name, kind in COLUMNS])


def mcnemar_rise(lost, gained) -> tuple[np.ndarray, np.ndarray]:
    """McNemar's signed statistic and exact one-sided p-value for a rise (gained > lost)."""
    lost = np.asarray(lost, dtype=float)
    gained = np.asarray(gained, dtype=float)
    n = lost + gained
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = np.where(n > 0, (gained - lost) / np.sqrt(n), 0.0)
    p = np.where(n > 0, stats.binom.sf(gained - 1, n, 0.5), 1.0)
    return statistic, p


def prediction_z(own, n, mean, spread, m) -> tuple[np.ndarray, np.ndarray]:
    """z and one-sided p for a cohort's retention above its later cohorts' (see the module)."""
    own, n, mean, spread, m = (np.asarray(x, dtype=float) for x in (own, n, mean, spread, m))
    se = np.sqrt(own * (1 - own) / n + spread ** 2 * (1 + 1 / m))
    diff = own - mean
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, diff / se, np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0)))
    return z, stats.norm.sf(z)


def q_values(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values of one family of tests."""
    p = np.asarray(p, dtype=float)
    return stats.false_discovery_control(p, method="bh") if len(p) else p


def evaluate(pairs: pd.DataFrame, candidates: pd.DataFrame, key: str, *, fdr_level: float, min_rise: float,
             min_level: float, lift: float, k_min: int) -> pd.DataFrame:
    """The signals table: every tested cell whose effect matters, with its evidence and verdict.

    `pairs`: boomerang_pairs; `candidates`: foundational_candidates (pandas). Tests run on
    all of them (the family), rows are kept where the effect clears its floor."""
    b_stat, b_p = mcnemar_rise(pairs["accounts_lost"], pairs["accounts_gained"])
    f_stat, f_p = prediction_z(candidates["compared_value"], candidates["cohort_size"], candidates["baseline"],
                               candidates["later_spread"], candidates["later_cohorts"])
    q = q_values(np.concatenate([b_p, f_p]))
    boom = pairs.assign(
        signal="boomerang", compared_value=pairs["value"], later_cohorts=pd.NA, later_spread=np.nan,
        test=BOOMERANG_TEST, statistic=b_stat, p_value=b_p, q_value=q[:len(pairs)],
        matters=(pairs["value"] - pairs["baseline"]) >= min_rise - 1e-12,
    )
    lost, gained = boom["accounts_lost"], boom["accounts_gained"]
    boom["evidence_suppressed"] = lost.between(1, k_min - 1) | gained.between(1, k_min - 1)
    found = candidates.assign(
        signal="foundational", accounts_lost=pd.NA, accounts_gained=pd.NA, test=FOUNDATIONAL_TEST,
        statistic=f_stat, p_value=f_p, q_value=q[len(pairs):], evidence_suppressed=False,
        matters=(candidates["value"] >= min_level - 1e-12)
        & (candidates["compared_value"] >= lift * candidates["baseline"] - 1e-12),
    )
    out = pd.concat([part for part in (boom, found) if len(part)] or [found], ignore_index=True)
    out = out[out["matters"].astype(bool)].copy()
    out["passes"] = out["q_value"] <= fdr_level
    out["fdr_level"] = float(fdr_level)
    out["tests"] = len(q)
    hidden = out["evidence_suppressed"].astype(bool)
    for column in ("accounts_lost", "accounts_gained", "statistic", "p_value", "q_value"):
        out[column] = out[column].astype(object).where(~hidden, None)
    out = out[[key] + [name for name, _ in COLUMNS]]
    return out.sort_values([key, "cohort_month", "signal", "months_since"]).reset_index(drop=True)


def records(table: pd.DataFrame) -> list[tuple]:
    """The table's rows as plain Python values (None for a missing one), for a Spark DataFrame."""
    def plain(v):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            return None
        return v.item() if isinstance(v, np.generic) else v
    return [tuple(plain(v) for v in row) for row in table.itertuples(index=False, name=None)]
