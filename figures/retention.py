"""Chapter: retention (cohort heat maps and curves, foundational cohorts and boomerangs)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from figures.style import new_figure, pct, percent_axis


def heatmap(ret: pd.DataFrame, model: str):
    """Cohort x months-since heat map of one model's activity retention; suppressed cells hatched."""
    import matplotlib.pyplot as plt

    d = ret[ret["model"] == model]
    cohorts = sorted(d["cohort_month"].unique())
    k_max = int(d["months_since"].max()) if len(d) else 0
    grid = np.full((len(cohorts), k_max + 1), np.nan)
    hidden = np.zeros_like(grid, dtype=bool)
    sizes: dict[int, object] = {}
    for _, r in d.iterrows():
        i, k = cohorts.index(r["cohort_month"]), int(r["months_since"])
        if k == 0:
            sizes[i] = r["cohort_size"]
        if r["suppressed"]:
            hidden[i, k] = True
        else:
            grid[i, k] = r["retention"]
    fig, ax = plt.subplots(figsize=(9, 0.38 * max(4, len(cohorts)) + 1.4), dpi=100)
    ax.set_title(f"Activity retention by monthly cohort: {model}", loc="left", fontsize=12)
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("#F0F0F0")
    im = ax.imshow(np.ma.masked_invalid(np.where(np.arange(k_max + 1) == 0, np.nan, grid)), cmap=cmap, vmin=0,
                   vmax=0.7, aspect="auto")
    for i in range(len(cohorts)):
        for k in range(k_max + 1):
            if hidden[i, k]:
                ax.add_patch(plt.Rectangle((k - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", color="#BBBBBB", lw=0))
            elif k == 0:
                ax.text(0, i, f"n={int(sizes[i])}" if sizes.get(i) == sizes.get(i) and sizes.get(i) is not None
                        else "", ha="center", va="center", fontsize=7, color="#555555")
            elif not np.isnan(grid[i, k]):
                ax.text(k, i, f"{100 * grid[i, k]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, k] < 0.4 else "black")
    ax.set_yticks(range(len(cohorts)), [str(c)[:7] for c in cohorts], fontsize=8)
    ax.set_xticks(range(k_max + 1))
    ax.set_xlabel("Months since first use (month 0: cohort size; hatched: under k_min accounts, suppressed)")
    ax.set_ylabel("Cohort (month of first use)")
    cbar = fig.colorbar(im, ax=ax, fraction=0.03)
    cbar.ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    fig.tight_layout()
    return fig, f"{model}: {len(cohorts)} monthly cohorts; numbers are retention in percent."


def passing(signals: pd.DataFrame) -> pd.DataFrame:
    """The signals that passed their test (gold keeps the near misses too, with their evidence)."""
    return signals[signals["passes"].fillna(False).astype(bool)]


def curves(ret: pd.DataFrame, signals: pd.DataFrame, model: str):
    """Retention curves of each cohort; foundational cohorts bold, boomerangs marked (passing signals only)."""
    d = ret[(ret["model"] == model) & (~ret["suppressed"])]
    sig = passing(signals)
    sig = sig[sig["model"] == model]
    found = set(sig[sig["signal"] == "foundational"]["cohort_month"])
    fig, ax = new_figure(f"Retention curves by cohort: {model}")
    for cohort, c in d.groupby("cohort_month"):
        c = c.sort_values("months_since")
        bold = cohort in found
        ax.plot(c["months_since"], c["retention"], linewidth=3 if bold else 1,
                color="#C44E52" if bold else "#9E9E9E", alpha=1 if bold else 0.6,
                label=f"{str(cohort)[:7]} (foundational)" if bold else None)
    for _, s in sig[sig["signal"] == "boomerang"].iterrows():
        ax.scatter([s["months_since"]], [s["value"]], marker="^", s=90, color="#2CA02C", zorder=5,
                   label=f"Boomerang: {str(s['cohort_month'])[:7]} cohort, month {int(s['months_since'])}")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Months since first use")
    ax.set_ylabel("Share of the cohort active")
    percent_axis(ax)
    if found or (sig["signal"] == "boomerang").any():
        ax.legend(frameon=False, fontsize=9)
    f = sig[sig["signal"] == "foundational"]
    caption = (f"Foundational cohort {str(f['cohort_month'].iloc[0])[:7]}: {pct(f['value'].iloc[0])} at month "
               f"{int(f['months_since'].iloc[0])}; at month {int(f['compared_at'].iloc[0])}, "
               f"{pct(f['compared_value'].iloc[0])} vs a later-cohort mean of {pct(f['baseline'].iloc[0])} "
               f"(q = {f['q_value'].iloc[0]:.2g})."
               if len(f) else "No foundational cohort passes its test.")
    return fig, caption
