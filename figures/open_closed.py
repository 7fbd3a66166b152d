"""Chapter: open versus closed weights."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from figures.style import (
    SEGMENT_COLORS,
    SEGMENT_LABELS,
    SIZE_COLORS,
    legend_outside,
    new_figure,
    pct,
    percent_axis,
)


def _last4(df: pd.DataFrame, value: str = "share") -> pd.Series:
    weeks = sorted(df["week_start"].unique())[-4:]
    return df[df["week_start"].isin(weeks)].groupby(df.columns[1])[value].mean()


def segment_share(df: pd.DataFrame):
    """Stacked area of weekly token share by segment (weekly_segment_share)."""
    wide = df.pivot_table(index="week_start", columns="segment", values="share", aggfunc="sum").fillna(0).sort_index()
    order = [s for s in ["closed", "oss_row", "oss_china", "unknown"] if s in wide.columns]
    fig, ax = new_figure("Weekly token share by model segment")
    ax.stackplot(pd.to_datetime(wide.index), *[wide[s] for s in order], labels=[SEGMENT_LABELS[s] for s in order],
                 colors=[SEGMENT_COLORS[s] for s in order], alpha=0.9)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Week (UTC, ISO week start)")
    ax.set_ylabel("Share of tokens")
    percent_axis(ax)
    legend_outside(ax)
    last = _last4(df)
    oss = last.get("oss_china", 0) + last.get("oss_row", 0)
    return fig, f"Open-weights share of tokens, last 4 weeks: {pct(oss)} (Chinese OSS {pct(last.get('oss_china'))})."


def oss_model_share(models: pd.DataFrame, concentration: pd.DataFrame, top_n: int = 8):
    """Stacked area of the top OSS models' share of open-weights tokens, with the HHI line."""
    top = models.groupby("model")["tokens"].sum().nlargest(top_n).index.tolist()
    df = models.assign(model=models["model"].where(models["model"].isin(top), "other"))
    wide = df.pivot_table(index="week_start", columns="model", values="share", aggfunc="sum").fillna(0).sort_index()
    order = top + (["other"] if "other" in wide.columns else [])
    fig, ax = new_figure(f"Share of open-weights tokens: top {top_n} models", width=11)
    # One colour per model here (several models share an author): tab10 in rank order.
    palette = plt.get_cmap("tab10").colors
    colors = [palette[i % 10] if m != "other" else "#E0E0E0" for i, m in enumerate(order)]
    x = pd.to_datetime(wide.index)
    ax.stackplot(x, *[wide[m] for m in order], labels=order, colors=colors, alpha=0.85, edgecolor="white",
                 linewidth=0.3)
    conc = concentration.sort_values("week_start")
    ax.plot(pd.to_datetime(conc["week_start"]), conc["hhi"], color="black", linewidth=2,
            label="Concentration (HHI)")
    ax.set_ylim(0, 1)
    ax.set_xlabel("Week")
    ax.set_ylabel("Share of open-weights tokens")
    percent_axis(ax)
    legend_outside(ax)
    last = conc.iloc[-1] if len(conc) else None
    caption = ("No open-weights traffic." if last is None else
               f"Latest week: top OSS model {last['top_model']} at {pct(last['top_share'])}; "
               f"{int(last['models_over_5pct'])} models above 5%; HHI {last['hhi']:.3f}.")
    return fig, caption


def size_share(df: pd.DataFrame):
    """Stacked area of open-weights tokens by model size."""
    wide = df.pivot_table(index="week_start", columns="size_bucket", values="share", aggfunc="sum").fillna(0)
    order = [s for s in ["small", "medium", "large", "unknown"] if s in wide.columns]
    fig, ax = new_figure("Open-weights tokens by model size (total parameters)")
    labels = {"small": "Small (<15B)", "medium": "Medium (15-70B)", "large": "Large (>=70B)", "unknown": "Unknown"}
    ax.stackplot(pd.to_datetime(wide.sort_index().index), *[wide.sort_index()[s] for s in order],
                 labels=[labels[s] for s in order], colors=[SIZE_COLORS[s] for s in order])
    ax.set_ylim(0, 1)
    ax.set_xlabel("Week")
    ax.set_ylabel("Share of open-weights tokens")
    percent_axis(ax)
    legend_outside(ax)
    last = _last4(df)
    return fig, (f"Last 4 weeks: small {pct(last.get('small'))}, medium {pct(last.get('medium'))}, "
                 f"large {pct(last.get('large'))} of open-weights tokens.")
