"""Chapter: effective cost versus usage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from figures.style import SEGMENT_COLORS, SEGMENT_LABELS, category_color, legend_outside, new_figure


def _log_axes(ax, x_label: str):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel("Tokens (log scale)")
    ax.grid(True, which="both", alpha=0.2)


def category_scatter(df: pd.DataFrame):
    """Log-log cost vs usage per category, median lines and quadrant names."""
    fig, ax = new_figure("Categories: effective cost vs usage", width=10, height=6)
    ax.scatter(df["cost_per_mtok"], df["tokens"], s=60, c=[category_color(c) for c in df["category"]], zorder=3)
    for _, r in df.iterrows():
        ax.annotate(r["category"], (r["cost_per_mtok"], r["tokens"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    cost_split, usage_split = df["cost_split"].iloc[0], df["usage_split"].iloc[0]
    ax.axvline(cost_split, color="#555555", linestyle="--", linewidth=1)
    ax.axhline(usage_split, color="#555555", linestyle="--", linewidth=1)
    _log_axes(ax, "Effective cost, USD per 1M tokens (log scale)")
    xlo, xhi = ax.get_xlim()
    ylo, yhi = ax.get_ylim()
    for (qx, qy), name in {((xhi, yhi)): "Premium", ((xlo, yhi)): "Mass market", ((xhi, ylo)): "Specialists",
                           ((xlo, ylo)): "Niche"}.items():
        ax.text(qx, qy, name, ha="right" if qx == xhi else "left", va="top" if qy == yhi else "bottom",
                fontsize=11, color="#777777", style="italic")
    return fig, f"Median category cost: ${cost_split:.2f} per 1M tokens (dashed lines are the medians)."


def model_scatter(df: pd.DataFrame, elasticity: pd.DataFrame | None = None):
    """Log-log cost vs usage per model coloured by segment, with the fitted line and its elasticity."""
    fig, ax = new_figure("Models: effective cost vs usage", width=10, height=6)
    for seg, d in df.groupby("segment"):
        ax.scatter(d["cost_per_mtok"], d["tokens"], s=40, color=SEGMENT_COLORS.get(seg, "#999999"),
                   label=SEGMENT_LABELS.get(seg, seg), alpha=0.85, zorder=3)
    top = df.nlargest(6, "tokens")
    for _, r in top.iterrows():
        ax.annotate(r["model"].split("/")[-1], (r["cost_per_mtok"], r["tokens"]), textcoords="offset points",
                    xytext=(5, 3), fontsize=7)
    caption = "No elasticity fit."
    if elasticity is not None and len(elasticity):
        fit = elasticity[(elasticity["scope"] == "all") & (elasticity["method"] == "ols")]
        if len(fit) and pd.notna(fit["elasticity"].iloc[0]):
            b = float(fit["elasticity"].iloc[0])
            x = np.log(df["cost_per_mtok"].to_numpy())
            y = np.log(df["tokens"].to_numpy())
            a = y.mean() - b * x.mean()
            xs = np.linspace(x.min(), x.max(), 50)
            ax.plot(np.exp(xs), np.exp(a + b * xs), color="black", linewidth=1.5,
                    label=f"OLS fit, elasticity {b:+.3f}")
            lo, hi = fit["ci_low"].iloc[0], fit["ci_high"].iloc[0]
            caption = (f"Cross-model price elasticity {b:+.3f} (95% interval {lo:+.3f} to {hi:+.3f}, "
                       f"{int(fit['n_models'].iloc[0])} models): a 10% lower price goes with "
                       f"{100 * (0.9 ** b - 1):+.1f}% tokens.")
    _log_axes(ax, "Effective cost, USD per 1M tokens (log scale)")
    legend_outside(ax)
    return fig, caption


METHOD_LABELS = {"ols": "OLS\nacross models", "token_weighted": "token-weighted\nacross models",
                 "within_model_week": "within models\n(model, week FE)"}
PLANTED_LABELS = {"cross_section": ("ols", "planted across models"),
                  "within_model": ("within_model_week", "planted within models")}


def elasticity_fits(df: pd.DataFrame, planted: dict | None = None):
    """Each scope x method estimate with its 95% interval (the error's kind in the label); the
    planted values as dashed lines when the data come from the generator."""
    order = {m: i for i, m in enumerate(METHOD_LABELS)}
    fits = df[df["elasticity"].notna()].copy()
    fits = fits.assign(_o=fits["method"].map(order).fillna(len(order))).sort_values(["_o", "scope"])
    fig, ax = new_figure("Price elasticity: estimates and 95% intervals", width=11, height=5.5)
    colors = {"ols": "#4c72b0", "token_weighted": "#8172b3", "within_model_week": "#dd8452"}
    xs = np.arange(len(fits))
    for x, (_, r) in zip(xs, fits.iterrows(), strict=True):
        ax.errorbar(x, r["elasticity"], yerr=[[r["elasticity"] - r["ci_low"]], [r["ci_high"] - r["elasticity"]]],
                    fmt="o", color=colors.get(r["method"], "#555555"), capsize=4)
    ax.set_xticks(xs, [f"{r['scope']}\n{METHOD_LABELS.get(r['method'], r['method'])}\n[{r['std_error_kind']}]"
                       for _, r in fits.iterrows()], fontsize=7)
    ax.axhline(0, color="#999999", linewidth=1)
    shown = []
    for key, (method, label) in PLANTED_LABELS.items():
        value = (planted or {}).get(key)
        if value is not None:
            ax.axhline(value, color=colors[method], linestyle="--", linewidth=1.2, label=f"{label}: {value:+.2f}")
            shown.append(f"{label} {value:+.2f}")
    ax.set_ylabel("% change in tokens per 1% change in cost")
    ax.set_xlabel("Scope, method [standard error]")
    ax.grid(True, axis="y", alpha=0.2)
    if shown:
        ax.legend(loc="best", fontsize=8)
    caption = "Across models, price and quality move together; within a model, usage answers its own price changes."
    within = fits[(fits["scope"] == "all") & (fits["method"] == "within_model_week")]
    if len(within):
        w = within.iloc[0]
        caption = (f"Within models: {w['elasticity']:+.2f} (95% interval {w['ci_low']:+.2f} to {w['ci_high']:+.2f}, "
                   f"{w['std_error_kind']} errors, {int(w['n_models'])} models). " + caption)
    if shown:
        caption += " Dashed: the generator's planted values (" + ", ".join(shown) + ")."
    return fig, caption
