"""Cohort retention and signals on hand-built activity tables."""

from __future__ import annotations

import datetime as dt

from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from transforms import cohorts

ACTIVITY = "account_key string, model string, month date"


def m(month: int, year: int = 2025) -> dt.date:
    return dt.date(year, month, 1)


def accounts(prefix: str, n: int, model: str, months: list[dt.date]):
    return [(f"{prefix}{i}", model, mo) for i in range(n) for mo in months]


def test_data_end_month():
    assert cohorts.data_end_month(dt.date(2025, 11, 30)) == m(11)
    assert cohorts.data_end_month(dt.date(2025, 11, 29)) == m(10)
    assert cohorts.data_end_month(dt.date(2024, 12, 31)) == m(12, 2024)


def test_known_matrix_with_gap_censoring_and_suppression(spark):
    rows = (
        # Cohort Jan: 20 accounts; 12 come back in Feb, 10 in Mar (5 of them after missing Feb).
        accounts("a", 20, "x", [m(1)])
        + accounts("a", 12, "x", [m(2)])
        + [(f"a{i}", "x", m(3)) for i in range(7, 17)]
        # Activity after the data's end month (April) is censored away.
        + accounts("a", 20, "x", [m(5)])
        # Cohort Feb: 9 accounts, all active again in Mar: the whole cohort is suppressed.
        + accounts("b", 9, "x", [m(2), m(3)])
    )
    df = spark.createDataFrame(rows, ACTIVITY)
    out = cohorts.cohort_retention(df, "model", m(4), k_min=10).drop("data_end_month")
    expected = spark.createDataFrame(
        [
            ("x", m(1), 0, 20, 20, 1.0, False),
            ("x", m(1), 1, 20, 12, 0.6, False),
            ("x", m(1), 2, 20, 10, 0.5, False),
            ("x", m(1), 3, None, None, None, True),  # April: 0 active, under k_min
            ("x", m(2), 0, None, None, None, True),
            ("x", m(2), 1, None, None, None, True),
            ("x", m(2), 2, None, None, None, True),
        ],
        "model string, cohort_month date, months_since int, cohort_size long, active_accounts long, "
        "retention double, suppressed boolean",
    )
    assert_approx_df_equality(out, expected, 1e-12, ignore_row_order=True, ignore_nullable=True)


def test_non_monotone_curve_from_returns(spark):
    rows = accounts("a", 10, "x", [m(1), m(3)]) + accounts("c", 10, "x", [m(1), m(2)])
    out = cohorts.cohort_retention(spark.createDataFrame(rows, ACTIVITY), "model", m(3), 10)
    curve = [r.retention for r in out.orderBy("months_since").collect()]
    assert curve == [1.0, 0.5, 0.5]
    rows = accounts("a", 20, "x", [m(1)]) + accounts("a", 10, "x", [m(3)])
    out = cohorts.cohort_retention(spark.createDataFrame(rows, ACTIVITY), "model", m(3), 10)
    assert [(r.months_since, r.suppressed) for r in out.orderBy("months_since").collect()] == [
        (0, False), (1, True), (2, False)]  # nobody in month 1, half back in month 2


RET = ("model string, cohort_month date, months_since int, cohort_size long, active_accounts long, "
       "retention double, suppressed boolean, data_end_month date")


def retention_rows(model, cohort, curve, suppressed_at=()):
    return [(model, cohort, k, 100, int(r * 100), float(r), k in suppressed_at, m(11)) for k, r in enumerate(curve)]


def test_foundational_detected_and_near_miss_not(spark):
    rows = (
        retention_rows("f", m(5), [1, .6, .5, .45, .42, .40])      # 0.40 >= 0.3 and >= 1.5 x 0.2
        + retention_rows("f", m(6), [1, .35, .25, .22, .20, .20])
        + retention_rows("f", m(7), [1, .3, .25, .2, .19])
        + retention_rows("n", m(5), [1, .6, .5, .45, .42, .40])    # near miss: 0.40 < 1.5 x 0.27
        + retention_rows("n", m(6), [1, .4, .3, .28, .27, .27])
        + retention_rows("l", m(5), [1, .5, .4, .35, .31, .29])    # near miss: 0.29 < min_level
        + retention_rows("l", m(6), [1, .3, .2, .15, .12, .10])
    )
    signals = cohorts.foundational_cohorts(spark.createDataFrame(rows, RET), "model", 5, 0.3, 1.5)
    got = [(r.model, r.cohort_month, r.value, r.baseline, r.compared_at) for r in signals.collect()]
    # Later cohorts of f: June reaches month 5 (0.20); July only month 4, so compare at 5 with June's.
    assert got == [("f", m(5), 0.40, 0.20, 5)]


def test_foundational_compares_earlier_when_later_cohorts_are_young(spark):
    rows = retention_rows("g", m(6), [1, .6, .52, .47, .43, .40]) + retention_rows("g", m(7), [1, .35, .26, .21, .18])
    signals = cohorts.foundational_cohorts(spark.createDataFrame(rows, RET), "model", 5, 0.3, 1.5).collect()
    assert [(r.compared_at, r.baseline, r.value) for r in signals] == [(4, 0.18, 0.40)]


def test_boomerang_detected_and_near_miss_not(spark):
    rows = (
        retention_rows("r", m(4), [1, .30, .18, .27, .20])         # +0.09 at month 3
        + retention_rows("s", m(4), [1, .30, .20, .229, .20])      # +0.029: near miss
        + retention_rows("t", m(4), [1, .10, .30, .2])             # +0.20 at month 2
        + retention_rows("u", m(4), [1, .30, .10, .40], suppressed_at={2})  # no comparison across a hidden cell
    )
    out = cohorts.boomerangs(spark.createDataFrame(rows, RET), "model", 0.03)
    got = sorted((r.model, r.months_since, round(r.value, 3), round(r.baseline, 3)) for r in out.collect())
    assert got == [("r", 3, 0.27, 0.18), ("t", 2, 0.3, 0.1)]


def test_signals_table_has_both_kinds(spark):
    rows = retention_rows("f", m(5), [1, .6, .5, .45, .42, .40]) + retention_rows("f", m(6), [1, .35, .25, .3, .2, .2])
    out = cohorts.cohort_signals(spark.createDataFrame(rows, RET), "model", 5, 0.3, 1.5, 0.03)
    assert sorted((r.signal, r.cohort_month, r.months_since) for r in out.collect()) == [
        ("boomerang", m(6), 3), ("foundational", m(5), 5)]
    assert out.filter(F.col("value").isNull()).count() == 0


def test_author_matrix_hides_what_the_model_matrix_suppressed(spark):
    schema = "account_key string, model string, author string, month date"

    def group(prefix, n, model, months):
        return [(f"{prefix}{i}", model, model.split("/")[0], mo) for i in range(n) for mo in months]

    rows = (
        # ax: big has 20 accounts in Jan and Feb; small has 3 in Jan (a cohort under k_min).
        # Author Jan month 0 = 23, so 23 - 20 would give small's 3 away: the whole
        # author cohort goes (its cohort_size is in every cell).
        group("b", 20, "ax/big", [m(1), m(2)]) + group("s", 3, "ax/small", [m(1)])
        # bx: one keeps 12 of 15 in Feb, two keeps 4 of 15 (suppressed). Author Feb = 16,
        # and 16 - 12 = 4: that cell goes; month 0 (30 = 15 + 15, nothing hidden) stays.
        + group("o", 15, "bx/one", [m(1)]) + group("o", 12, "bx/one", [m(2)])
        + group("t", 15, "bx/two", [m(1)]) + group("t", 4, "bx/two", [m(2)])
        # cx: two suppressed Feb cells (6 and 5) hide 11 >= k_min accounts together:
        # the author cell can show 11 without giving either away.
        + group("p", 12, "cx/p", [m(1)]) + group("p", 6, "cx/p", [m(2)])
        + group("q", 12, "cx/q", [m(1)]) + group("q", 5, "cx/q", [m(2)])
    )
    out = cohorts.author_cohort_retention(spark.createDataFrame(rows, schema), m(2), k_min=10)
    expected = spark.createDataFrame(
        [
            ("ax", m(1), 0, None, None, None, True),
            ("ax", m(1), 1, None, None, None, True),
            ("bx", m(1), 0, 30, 30, 1.0, False),
            ("bx", m(1), 1, None, None, None, True),
            ("cx", m(1), 0, 24, 24, 1.0, False),
            ("cx", m(1), 1, 24, 11, 11 / 24, False),
        ],
        "author string, cohort_month date, months_since int, cohort_size long, active_accounts long, "
        "retention double, suppressed boolean",
    )
    assert_approx_df_equality(out.drop("data_end_month"), expected, 1e-12, ignore_row_order=True,
                              ignore_nullable=True)
    # the model matrix alone suppresses small's and two's cells, not the authors'
    models = cohorts.cohort_retention(spark.createDataFrame(rows, schema), "model", m(2), 10)
    assert {(r.model, r.months_since) for r in models.filter("suppressed").collect()} == {
        ("ax/small", 0), ("ax/small", 1), ("bx/two", 1), ("cx/p", 1), ("cx/q", 1)}


def test_requests_without_an_account_belong_to_no_cohort(spark):
    # 10 accounts in January, 10 again in February; requests with no account (a null key)
    # in both months would otherwise form a cohort of their own, or join January's.
    rows = accounts("a", 10, "x", [m(1), m(2)]) + [(None, "x", m(1)), (None, "x", m(2)), (None, "x", m(3))]
    out = cohorts.cohort_retention(spark.createDataFrame(rows, ACTIVITY), "model", m(3), k_min=10)
    got = sorted((r.cohort_month, r.months_since, r.cohort_size, r.active_accounts) for r in out.collect())
    assert got == [(m(1), 0, 10, 10), (m(1), 1, 10, 10), (m(1), 2, None, None)]  # March: none active, suppressed
