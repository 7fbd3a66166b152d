"""Each figure function on tiny gold tables: it draws the values it is given, with a title,
axis labels and a caption."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle

from figures import agentic, categories, economics, geography, open_closed, retention
from tests.helpers import GOLD

CASES = [
    (open_closed.segment_share, ["weekly_segment_share"], "Weekly token share by model segment", "Share of tokens"),
    (open_closed.oss_model_share, ["weekly_oss_model_share", "weekly_oss_concentration"],
     "Share of open-weights tokens: top 8 models", "Share of open-weights tokens"),
    (open_closed.size_share, ["weekly_size_share"], "Open-weights tokens by model size (total parameters)",
     "Share of open-weights tokens"),
    (categories.category_share, ["weekly_category_share"], "Share of labelled tokens by category",
     "Share of labelled tokens"),
    (categories.segment_category_mix, ["category_segment_mix"], "Category mix within each segment", ""),
    (categories.roleplay_by_segment, ["weekly_category_segment_share"], "Roleplay tokens by segment",
     "Share of Roleplay tokens"),
    (categories.programming_by_author, ["weekly_author_programming_share"], "Share of Programming spend by model author",
     "Share of Programming spend (4-week mean)"),
    (categories.author_profiles, ["author_category_mix"], "Category profile of each author", ""),
    (agentic.reasoning_share, ["weekly_reasoning_share"], "Share of tokens served by reasoning models",
     "Share of tokens"),
    (agentic.tool_call_share, ["weekly_tool_call_share"], "Share of tokens in requests that ended in tool calls",
     "Share of tokens"),
    (geography.region_spend, ["weekly_region_share"], "Share of spend by billing region",
     "Share of spend (BYOK excluded)"),
    (geography.languages, ["language_share"], "Share of tokens by prompt language", ""),
    (economics.category_scatter, ["category_cost_usage"], "Categories: effective cost vs usage", "Tokens (log scale)"),
    (economics.model_scatter, ["model_cost_usage", "price_elasticity"], "Models: effective cost vs usage",
     "Tokens (log scale)"),
    (economics.elasticity_fits, ["price_elasticity"], "Price elasticity: estimates and 95% intervals",
     "% change in tokens per 1% change in cost"),
    (lambda r, s: retention.curves(r, s, "m/x"), ["cohort_retention", "cohort_signals"],
     "Retention curves by cohort: m/x", "Share of the cohort active"),
]


# The column of its first table each figure plots, and whether every value of it must be
# drawn as is ("all"; a stacked area draws only its bottom series as is: "any"). Chosen
# by what each figure says it shows, so a figure that plots another column fails.
DRAWN = {
    "Weekly token share by model segment": ("share_4w", "any"),
    "Share of open-weights tokens: top 8 models": ("share_4w", "any"),
    "Open-weights tokens by model size (total parameters)": ("share_4w", "any"),
    "Share of labelled tokens by category": ("share_4w", "all"),
    "Category mix within each segment": ("share", "all"),
    "Roleplay tokens by segment": ("share_4w", "any"),
    "Share of Programming spend by model author": ("spend_share", "any"),  # a 4-week rolling mean
    "Category profile of each author": ("share", "all"),
    "Share of tokens served by reasoning models": ("share", "all"),
    "Share of tokens in requests that ended in tool calls": ("share", "all"),
    "Share of spend by billing region": ("spend_share", "any"),
    "Share of tokens by prompt language": ("share", "all"),
    "Categories: effective cost vs usage": ("cost_per_mtok", "all"),
    "Models: effective cost vs usage": ("cost_per_mtok", "all"),
    "Retention curves by cohort: m/x": ("retention", "all"),
    "Price elasticity: estimates and 95% intervals": ("elasticity", "all"),
}


def drawn_values(ax) -> np.ndarray:
    """Every number an axes draws: line points, scatter offsets, area vertices, bar edges."""
    values = []
    for line in ax.get_lines():
        values += [v for v in np.asarray(line.get_ydata(), dtype=object) if isinstance(v, int | float)]
    for collection in ax.collections:
        if isinstance(collection, PathCollection):
            values += list(np.asarray(collection.get_offsets(), dtype=float).ravel())
        for path in collection.get_paths():
            values += list(path.vertices.ravel())
    for patch in ax.patches:
        if isinstance(patch, Rectangle):
            values += [patch.get_height(), patch.get_width(), patch.get_x() + patch.get_width(),
                       patch.get_y() + patch.get_height()]
    out = np.asarray(values, dtype=float)
    return out[np.isfinite(out)]


@pytest.mark.parametrize("fn, tables, title, ylabel", CASES)
def test_figure_draws_its_data_with_labels_and_caption(fn, tables, title, ylabel):
    fig, caption = fn(*[GOLD[t] for t in tables])
    ax = fig.axes[0]
    column, how = DRAWN[title]
    expected = GOLD[tables[0]][column].dropna().to_numpy(float)
    found = np.isclose(drawn_values(ax)[:, None], expected[None, :], rtol=1e-9, atol=1e-12).any(axis=0)
    assert found.all() if how == "all" else found.any(), f"{column} not drawn"
    assert ax.get_title(loc="left")
    if ylabel:
        assert ax.get_ylabel()
    assert ax.get_xlabel()
    assert caption and caption.endswith(".")
    plt.close(fig)


def test_captions_state_the_key_numbers():
    _, caption = open_closed.segment_share(GOLD["weekly_segment_share"])
    # Two weeks only, so the "last 4 weeks" mean covers both: OSS (0.3 + 0.4) / 2.
    assert "35.0%" in caption
    fig, caption = retention.curves(GOLD["cohort_retention"], GOLD["cohort_signals"], "m/x")
    assert "2025-05" in caption and "30.0%" in caption and "15.0%" in caption and "q = 0.0001" in caption
    # Only signals that passed their test are marked: the May near miss is not.
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert [label for label in labels if label.startswith("Boomerang")] == ["Boomerang: 2025-06 cohort, month 2"]
    plt.close(fig)
    _, caption = economics.model_scatter(GOLD["model_cost_usage"], GOLD["price_elasticity"])
    assert "-0.060" in caption and "+0.6%" in caption  # 0.9 ** -0.06 - 1 = +0.634%


def test_elasticity_figure_draws_intervals_and_the_planted_values():
    fits = GOLD["price_elasticity"]
    fig, caption = economics.elasticity_fits(fits)
    ax = fig.axes[0]
    drawn = drawn_values(ax)
    for bound in list(fits["ci_low"]) + list(fits["ci_high"]):  # each interval's ends
        assert np.isclose(drawn, bound).any()
    assert ax.get_legend() is None and "planted" not in caption
    # The error's kind is part of each label.
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert any("[classical]" in t for t in labels) and any("[cluster(model)]" in t for t in labels)
    plt.close(fig)
    fig, caption = economics.elasticity_fits(fits, {"cross_section": -0.06, "within_model": -0.5})
    ax = fig.axes[0]
    dashed = sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--")
    assert dashed == [-0.5, -0.06]
    assert "planted within models -0.50" in caption and "-0.40 (95% interval -0.60 to -0.20" in caption
    plt.close(fig)


def test_multi_panel_figures():
    fig, _ = agentic.sequence_lengths(GOLD["weekly_sequence_length"])
    assert [a.get_title(loc="left") for a in fig.axes] == ["Prompt", "Completion"]
    assert all(a.get_ylabel() == "Tokens per request" for a in fig.axes)
    fig, _ = categories.subcategory_bars(GOLD["subcategory_share"])
    assert [a.get_title(loc="left") for a in fig.axes] == ["Roleplay", "Programming"]
    fig, _ = retention.heatmap(GOLD["cohort_retention"], "m/x")
    assert fig.axes[0].get_ylabel() == "Cohort (month of first use)"
    plt.close("all")
