"""Each figure function on tiny gold tables: it draws, with the expected title and axis labels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

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
    (lambda r, s: retention.curves(r, s, "m/x"), ["cohort_retention", "cohort_signals"],
     "Retention curves by cohort: m/x", "Share of the cohort active"),
]


@pytest.mark.parametrize("fn, tables, title, ylabel", CASES)
def test_figure_has_title_labels_and_caption(fn, tables, title, ylabel):
    fig, caption = fn(*[GOLD[t] for t in tables])
    ax = fig.axes[0]
    assert ax.get_title(loc="left").startswith(title)
    if ylabel:
        assert ax.get_ylabel() == ylabel
    assert ax.get_xlabel()
    assert caption and caption.endswith(".")
    plt.close(fig)


def test_captions_state_the_key_numbers():
    _, caption = open_closed.segment_share(GOLD["weekly_segment_share"])
    # Two weeks only, so the "last 4 weeks" mean covers both: OSS (0.3 + 0.4) / 2.
    assert "35.0%" in caption
    _, caption = retention.curves(GOLD["cohort_retention"], GOLD["cohort_signals"], "m/x")
    assert "2025-05" in caption and "30.0%" in caption and "15.0%" in caption
    _, caption = economics.model_scatter(GOLD["model_cost_usage"], GOLD["price_elasticity"])
    assert "-0.060" in caption and "+0.6%" in caption  # 0.9 ** -0.06 - 1 = +0.634%


def test_multi_panel_figures():
    fig, _ = agentic.sequence_lengths(GOLD["weekly_sequence_length"])
    assert [a.get_title(loc="left") for a in fig.axes] == ["Prompt", "Completion"]
    assert all(a.get_ylabel() == "Tokens per request" for a in fig.axes)
    fig, _ = categories.subcategory_bars(GOLD["subcategory_share"])
    assert [a.get_title(loc="left") for a in fig.axes] == ["Roleplay", "Programming"]
    fig, _ = retention.heatmap(GOLD["cohort_retention"], "m/x")
    assert fig.axes[0].get_ylabel() == "Cohort (month of first use)"
    plt.close("all")
