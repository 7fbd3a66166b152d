"""Chapter: what people use models for (categories from the labelled sample)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from figures.style import (
    SEGMENT_COLORS,
    SEGMENT_LABELS,
    author_color,
    category_color,
    legend_outside,
    new_figure,
    pct,
    percent_axis,
)

MAIN = ["Programming", "Roleplay", "Technology", "Translation", "General Q&A / Knowledge", "Science"]


def category_share(df: pd.DataFrame, categories: list[str] | None = None):
    """Weekly share of labelled tokens per category (4-week smoothed) with its 95% interval band."""
    cats = categories or [c for c in MAIN if c in set(df["category"])]
    fig, ax = new_figure("Share of labelled tokens by category (lines: 4-week smoothing; band: weekly 95% "
                         "interval, Programming)", width=11)
    for cat in cats:
        d = df[df["category"] == cat].sort_values("week_start")
        x = pd.to_datetime(d["week_start"])
        ax.plot(x, d["share_4w"], color=category_color(cat), linewidth=2, label=cat)
        if cat == "Programming":  # one band keeps the chart legible; every band is in the table
            ax.fill_between(x, d["share_ci_low"], d["share_ci_high"], color=category_color(cat), alpha=0.15,
                            label="Programming, weekly 95% interval")
    ax.set_ylim(0, 1)
    ax.set_xlabel("Week")
    ax.set_ylabel("Share of labelled tokens")
    percent_axis(ax)
    legend_outside(ax)
    prog = df[df["category"] == "Programming"].sort_values("week_start")
    caption = ("No Programming labels." if prog.empty else
               f"Programming, 4-week share: {pct(prog['share_4w'].iloc[min(8, len(prog) - 1)])} early "
               f"(week {min(8, len(prog) - 1) + 1}) to {pct(prog['share_4w'].iloc[-1])} in the latest week.")
    return fig, caption


def segment_category_mix(df: pd.DataFrame):
    """Horizontal stacked bars: category mix within each segment (whole window)."""
    segments = [s for s in ["closed", "oss_row", "oss_china"] if s in set(df["segment"])]
    cats = df.groupby("category")["tokens"].sum().sort_values(ascending=False).index.tolist()
    fig, ax = new_figure("Category mix within each segment (share of labelled tokens)", width=11, height=4.2)
    left = np.zeros(len(segments))
    for cat in cats:
        vals = [df[(df["segment"] == s) & (df["category"] == cat)]["share"].sum() for s in segments]
        ax.barh([SEGMENT_LABELS[s] for s in segments], vals, left=left, color=category_color(cat), label=cat)
        left += np.array(vals)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Share of the segment's labelled tokens")
    percent_axis(ax, "x")
    ax.grid(False)
    legend_outside(ax, ncol=1)
    oss = df[df["segment"].isin(["oss_china", "oss_row"])]
    rp = oss[oss["category"] == "Roleplay"]["tokens"].sum() / max(1, oss["tokens"].sum())
    cn = df[df["segment"] == "oss_china"]
    cn_rp = cn[cn["category"] == "Roleplay"]["share"].sum()
    cn_prog = cn[cn["category"].isin(["Programming", "Technology"])]["share"].sum()
    return fig, (f"Roleplay is {pct(rp)} of open-weights labelled tokens; Chinese OSS: Roleplay {pct(cn_rp)}, "
                 f"Programming + Technology {pct(cn_prog)}.")


def roleplay_by_segment(df: pd.DataFrame):
    """Stacked area: who serves Roleplay tokens (weekly_category_segment_share, 4-week smoothing)."""
    d = df[df["category"] == "Roleplay"]
    wide = d.pivot_table(index="week_start", columns="segment", values="share_4w", aggfunc="sum").fillna(0)
    wide = wide.sort_index()
    order = [s for s in ["closed", "oss_row", "oss_china", "unknown"] if s in wide.columns]
    fig, ax = new_figure("Roleplay tokens by segment (4-week smoothing)")
    if order:
        ax.stackplot(pd.to_datetime(wide.index), *[wide[s] for s in order], labels=[SEGMENT_LABELS[s] for s in order],
                     colors=[SEGMENT_COLORS[s] for s in order])
    ax.set_ylim(0, 1)
    ax.set_xlabel("Week")
    ax.set_ylabel("Share of Roleplay tokens")
    percent_axis(ax)
    legend_outside(ax)
    last = wide.iloc[-1] if len(wide) else pd.Series(dtype=float)
    return fig, (f"Latest week: rest-of-world OSS {pct(last.get('oss_row'))}, closed {pct(last.get('closed'))}, "
                 f"Chinese OSS {pct(last.get('oss_china'))} of Roleplay tokens.")


def programming_by_author(df: pd.DataFrame, top_n: int = 7):
    """Lines: each author's share of Programming spend (4 weeks smoothed by tokens)."""
    top = df.groupby("author")["spend"].sum().nlargest(top_n).index.tolist()
    fig, ax = new_figure("Share of Programming spend by model author", width=11)
    for author in top:
        d = df[df["author"] == author].sort_values("week_start")
        ax.plot(pd.to_datetime(d["week_start"]), d["spend_share"].rolling(4, min_periods=1).mean(),
                color=author_color(author), linewidth=2, label=author)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Week")
    ax.set_ylabel("Share of Programming spend (4-week mean)")
    percent_axis(ax)
    legend_outside(ax)
    last_weeks = sorted(df["week_start"].unique())[-4:]
    recent = df[df["week_start"].isin(last_weeks)].groupby("author")["spend"].sum()
    lead = recent.idxmax() if len(recent) else None
    return fig, ("No Programming spend." if lead is None else
                 f"Last 4 weeks: {lead} takes {pct(recent.max() / recent.sum())} of Programming spend.")


def subcategory_bars(df: pd.DataFrame, categories: list[str] | None = None, top_n: int = 6):
    """Bars of the top sub-tags inside each main category."""
    cats = categories or [c for c in ["Roleplay", "Programming", "Translation", "Science", "Health"]
                          if c in set(df["category"])]
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(cats), 1, figsize=(10, 2.1 * max(1, len(cats)) + 0.6), dpi=100, squeeze=False)
    fig.suptitle("Inside each category: share of its labelled tokens by sub-tag", x=0.01, ha="left", fontsize=13)
    for ax, cat in zip(axes[:, 0], cats, strict=False):
        d = df[df["category"] == cat].nlargest(top_n, "share").iloc[::-1]
        ax.barh(d["subcategory"], d["share"], color=category_color(cat))
        ax.set_title(cat, fontsize=10, loc="left")
        ax.set_xlim(0, 1)
        percent_axis(ax, "x")
        ax.tick_params(axis="y", labelsize=8)
        for y, v in enumerate(d["share"]):
            ax.text(v + 0.01, y, pct(v), va="center", fontsize=8)
    axes[-1, 0].set_xlabel("Share of the category's labelled tokens")
    fig.tight_layout()
    rp = df[df["category"] == "Roleplay"].nlargest(1, "share")
    return fig, ("No Roleplay labels." if rp.empty else
                 f"Top Roleplay sub-tag: {rp['subcategory'].iloc[0]} at {pct(rp['share'].iloc[0])}.")


def author_profiles(df: pd.DataFrame, authors: list[str] | None = None):
    """Horizontal stacked bars: each author's category mix."""
    authors = authors or df.groupby("author")["tokens"].sum().nlargest(8).index.tolist()
    cats = df.groupby("category")["tokens"].sum().sort_values(ascending=False).index.tolist()
    fig, ax = new_figure("Category profile of each author (share of its labelled tokens)", width=11, height=4.8)
    left = np.zeros(len(authors))
    for cat in cats:
        vals = [df[(df["author"] == a) & (df["category"] == cat)]["share"].sum() for a in authors]
        ax.barh(authors, vals, left=left, color=category_color(cat), label=cat)
        left += np.array(vals)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("Share of the author's labelled tokens")
    percent_axis(ax, "x")
    ax.grid(False)
    legend_outside(ax)
    a = df[df["author"] == "anthropic"]
    val = a[a["category"].isin(["Programming", "Technology"])]["share"].sum()
    return fig, f"Anthropic: Programming + Technology are {pct(val)} of its labelled tokens."
