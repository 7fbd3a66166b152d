"""Chapter: geography (billing region) and language."""

from __future__ import annotations

import pandas as pd

from figures.style import category_color, legend_outside, new_figure, pct, percent_axis

REGION_ORDER = ["North America", "Europe", "Asia", "South America", "Oceania", "Africa", "Unknown"]
REGION_COLORS = {"North America": "#4C72B0", "Europe": "#55A868", "Asia": "#C44E52", "South America": "#8172B2",
                 "Oceania": "#CCB974", "Africa": "#64B5CD", "Unknown": "#BDBDBD"}


def region_spend(df: pd.DataFrame):
    """Stacked area: share of spend by billing region."""
    wide = df.pivot_table(index="week_start", columns="region", values="spend_share", aggfunc="sum").fillna(0)
    wide = wide.sort_index()
    order = [r for r in REGION_ORDER if r in wide.columns]
    fig, ax = new_figure("Share of spend by billing region")
    ax.stackplot(pd.to_datetime(wide.index), *[wide[r] for r in order], labels=order,
                 colors=[REGION_COLORS[r] for r in order])
    ax.set_ylim(0, 1)
    ax.set_xlabel("Week")
    ax.set_ylabel("Share of spend (BYOK excluded)")
    percent_axis(ax)
    legend_outside(ax)
    last = wide.tail(4).mean()
    return fig, (f"Last 4 weeks: North America {pct(last.get('North America'))}, Europe {pct(last.get('Europe'))}, "
                 f"Asia {pct(last.get('Asia'))} of spend.")


def languages(df: pd.DataFrame, top_n: int = 10):
    """Bars: share of tokens by prompt language."""
    d = df.nlargest(top_n, "share").iloc[::-1]
    fig, ax = new_figure("Share of tokens by prompt language", height=4.6)
    ax.barh(d["language"], d["share"], color=[category_color(x) for x in d["language"]])
    for y, v in enumerate(d["share"]):
        ax.text(v + 0.005, y, pct(v), va="center", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Share of tokens")
    percent_axis(ax, "x")
    ax.grid(False)
    en = df[df["language"] == "en"]["share"].sum()
    zh = df[df["language"] == "zh-Hans"]["share"].sum()
    return fig, f"English {pct(en)} of tokens; Simplified Chinese {pct(zh)}."
