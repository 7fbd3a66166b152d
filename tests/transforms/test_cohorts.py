"""Cohort retention and signals on hand-built activity tables."""

from __future__ import annotations

import datetime as dt

from chispa import assert_approx_df_equality

from jobs.common.session import local_frame
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
    df = local_frame(spark, rows, ACTIVITY)
    out = cohorts.cohort_retention(df, "model", m(4), k_min=10).drop("data_end_month")
    expected = local_frame(
        spark,
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
    out = cohorts.cohort_retention(local_frame(spark, rows, ACTIVITY), "model", m(3), 10)
    curve = [r.retention for r in out.orderBy("months_since").collect()]
    assert curve == [1.0, 0.5, 0.5]
    rows = accounts("a", 20, "x", [m(1)]) + accounts("a", 10, "x", [m(3)])
    out = cohorts.cohort_retention(local_frame(spark, rows, ACTIVITY), "model", m(3), 10)
    assert [(r.months_since, r.suppressed) for r in out.orderBy("months_since").collect()] == [
        (0, False), (1, True), (2, False)]  # nobody in month 1, half back in month 2


def test_cells_count_the_accounts_that_stayed_from_the_month_before(spark):
    rows = (
        # Jan cohort: 20 accounts; a0-a11 in Feb; a7-a16 in Mar (a7-a11 were in Feb too).
        accounts("a", 20, "x", [m(1)]) + accounts("a", 12, "x", [m(2)])
        + [(f"a{i}", "x", m(3)) for i in range(7, 17)]
        # Feb cohort: 9 accounts active in Feb and Mar.
        + accounts("b", 9, "x", [m(2), m(3)])
    )
    cells = cohorts.retention_cells(local_frame(spark, rows, ACTIVITY), "model", m(3))
    got = sorted((r.cohort_month.month, r.months_since, r.active_accounts, r.stayed_accounts) for r in cells.collect())
    assert got == [(1, 0, 20, 0), (1, 1, 12, 12), (1, 2, 10, 5), (2, 0, 9, 0), (2, 1, 9, 9)]


def test_boomerang_pairs_count_accounts_lost_and_gained_on_published_cells_only(spark):
    rows = (
        # Jan cohort of 40: month 1 a0-a29, month 2 a0-a9, month 3 a5-a34: lost a0-a4 (5),
        # gained a10-a34 (25). Month 4: nobody, suppressed (k_min 5), so no pair (3, 4).
        accounts("a", 40, "x", [m(1)]) + accounts("a", 30, "x", [m(2)]) + accounts("a", 10, "x", [m(3)])
        + [(f"a{i}", "x", m(4)) for i in range(5, 35)]
    )
    activity = local_frame(spark, rows, ACTIVITY)
    cells = cohorts.retention_cells(activity, "model", m(5))
    published = cohorts.cohort_retention(activity, "model", m(5), k_min=5, cells=cells)
    pairs = cohorts.boomerang_pairs(cohorts.signal_inputs(cells, published, "model").toPandas(), "model")
    got = [(r.months_since, r.compared_at, r.cohort_size, r.value, r.baseline, r.accounts_lost, r.accounts_gained)
           for r in pairs.sort_values("months_since").itertuples()]
    assert got == [(2, 1, 40, 10 / 40, 30 / 40, 20, 0), (3, 2, 40, 30 / 40, 10 / 40, 5, 25)]


RET = ("model string, cohort_month date, months_since int, cohort_size long, active_accounts long, "
       "retention double, suppressed boolean, data_end_month date")


def retention_rows(model, cohort, curve, suppressed_at=(), size=100):
    return [(model, cohort, k, size, int(round(r * size)), float(r), k in suppressed_at, m(11))
            for k, r in enumerate(curve)]


def test_foundational_candidates_compare_with_the_later_cohorts_mean_and_spread(spark):
    rows = (
        retention_rows("f", m(5), [1, .6, .5, .45, .42, .40], size=200)
        + retention_rows("f", m(6), [1, .35, .25, .22, .20, .20])   # reaches month 5
        + retention_rows("f", m(7), [1, .3, .25, .2, .16])          # month 4 only
        + retention_rows("f", m(8), [1, .3, .24, .18], suppressed_at={3})
        # g: the later cohorts are young. Two of them reach month 3 (0.21, 0.25), one
        # month 4: so the comparison is at month 3, the latest with >= 2 later cohorts.
        + retention_rows("g", m(6), [1, .6, .52, .47, .43, .40])
        + retention_rows("g", m(7), [1, .35, .26, .21, .18])
        + retention_rows("g", m(8), [1, .3, .27, .25])
        # h: a single later cohort: no comparison.
        + retention_rows("h", m(6), [1, .6, .52, .47, .43, .40]) + retention_rows("h", m(7), [1, .3, .2, .2, .2])
    )
    out = cohorts.foundational_candidates(local_frame(spark, rows, RET).toPandas(), "model", 5, 2)
    got = {(r.model, r.cohort_month): r for r in out.itertuples()}
    # f's June cohort reaches month 5 too; its later cohorts (July, August) are both seen at month 2.
    assert sorted(got) == [("f", m(5)), ("f", m(6)), ("g", m(6))]
    assert (got[("f", m(6))].compared_at, got[("f", m(6))].later_cohorts) == (2, 2)
    # f's May cohort at month 4: June 0.20 and July 0.16 (only June reaches month 5).
    f = got[("f", m(5))]
    assert (f.cohort_month, f.months_since, f.value, f.compared_at, f.compared_value, f.cohort_size,
            f.later_cohorts) == (m(5), 5, 0.40, 4, 0.42, 200, 2)
    assert abs(f.baseline - 0.18) < 1e-12 and abs(f.later_spread - 0.02 * 2 ** 0.5) < 1e-12
    g = got[("g", m(6))]
    assert (g.compared_at, g.compared_value, g.later_cohorts) == (3, 0.47, 2)
    assert abs(g.baseline - 0.23) < 1e-12 and abs(g.later_spread - 0.04 / 2 ** 0.5) < 1e-12


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
    out = cohorts.author_cohort_retention(local_frame(spark, rows, schema), m(2), k_min=10)
    expected = local_frame(
        spark,
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
    models = cohorts.cohort_retention(local_frame(spark, rows, schema), "model", m(2), 10)
    assert {(r.model, r.months_since) for r in models.filter("suppressed").collect()} == {
        ("ax/small", 0), ("ax/small", 1), ("bx/two", 1), ("cx/p", 1), ("cx/q", 1)}


def test_requests_without_an_account_belong_to_no_cohort(spark):
    # 10 accounts in January, 10 again in February; requests with no account (a null key)
    # in both months would otherwise form a cohort of their own, or join January's.
    rows = accounts("a", 10, "x", [m(1), m(2)]) + [(None, "x", m(1)), (None, "x", m(2)), (None, "x", m(3))]
    out = cohorts.cohort_retention(local_frame(spark, rows, ACTIVITY), "model", m(3), k_min=10)
    got = sorted((r.cohort_month, r.months_since, r.cohort_size, r.active_accounts) for r in out.collect())
    assert got == [(m(1), 0, 10, 10), (m(1), 1, 10, 10), (m(1), 2, None, None)]  # March: none active, suppressed
