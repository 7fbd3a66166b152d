"""Chapter: agentic inference (reasoning models, tool calls, sequence lengths)."""

from __future__ import annotations

import pandas as pd

from figures.style import legend_outside, new_figure, pct, percent_axis, tokens_axis


def reasoning_share(df: pd.DataFrame):
    """Line: share of tokens served by reasoning models."""
    d = df.sort_values("week_start")
    fig, ax = new_figure("Share of tokens served by reasoning models")
    ax.plot(pd.to_datetime(d["week_start"]), d["share"], color="#6A3D9A", linewidth=2, label="Reasoning models")
    ax.set_ylim(0, 1)
    ax.set_xlabel("Week")
    ax.set_ylabel("Share of tokens")
    percent_axis(ax)
    legend_outside(ax)
    return fig, f"Reasoning-model share of tokens, latest week: {pct(d['share'].iloc[-1] if len(d) else None)}."


def tool_call_share(df: pd.DataFrame):
    """Lines: tool-call token share with and without the largest account."""
    d = df.sort_values("week_start")
    x = pd.to_datetime(d["week_start"])
    fig, ax = new_figure("Share of tokens in requests that ended in tool calls")
    ax.plot(x, d["share"], color="#E6550D", linewidth=2, label="All accounts")
    ax.plot(x, d["share_excl_top_account"], color="#636363", linewidth=2, linestyle="--",
            label="Without the largest account")
    ax.set_ylim(0, max(0.05, float(d["share"].max() or 0) * 1.15))
    ax.set_xlabel("Week")
    ax.set_ylabel("Share of tokens")
    percent_axis(ax)
    legend_outside(ax)
    gap = (d["share"] - d["share_excl_top_account"]).fillna(0)
    peak = d.loc[gap.idxmax()] if len(d) else None
    return fig, ("No traffic." if peak is None else
                 f"Largest one-account effect: week of {peak['week_start']}: {pct(peak['share'])} with it, "
                 f"{pct(peak['share_excl_top_account'])} without.")


def sequence_lengths(df: pd.DataFrame):
    """Two panels: average prompt and completion tokens per request, All vs Programming."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), dpi=100)
    fig.suptitle("Average tokens per request", x=0.01, ha="left", fontsize=13)
    styles = {"All": ("#3182BD", "-"), "Programming": ("#E6550D", "--")}
    for ax, col, title in ((axes[0], "avg_prompt_tokens", "Prompt"), (axes[1], "avg_completion_tokens", "Completion")):
        for cat, (color, ls) in styles.items():
            d = df[df["category"] == cat].sort_values("week_start")
            if cat != "All":
                d = d.assign(**{col: d[col].rolling(4, min_periods=1).mean()})
            ax.plot(pd.to_datetime(d["week_start"]), d[col], color=color, linestyle=ls, linewidth=2,
                    label=cat + (" (4-week mean)" if cat != "All" else ""))
        ax.set_title(title, loc="left", fontsize=11)
        ax.set_xlabel("Week")
        ax.set_ylabel("Tokens per request")
        tokens_axis(ax)
        ax.grid(True, alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30)
    axes[1].legend(frameon=False, fontsize=9)
    fig.tight_layout()
    a = df[df["category"] == "All"].sort_values("week_start")
    if a.empty:
        return fig, "No traffic."
    return fig, (f"Average prompt: {a['avg_prompt_tokens'].iloc[1 if len(a) > 1 else 0]:,.0f} tokens early, "
                 f"{a['avg_prompt_tokens'].iloc[-1]:,.0f} in the latest week; completion "
                 f"{a['avg_completion_tokens'].iloc[-1]:,.0f}.")
