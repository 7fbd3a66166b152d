"""Shared look: one colour per segment and per author across every figure, percent axes."""

from __future__ import annotations

import zlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

SEGMENT_COLORS = {"closed": "#4C72B0", "oss_china": "#C44E52", "oss_row": "#55A868", "unknown": "#9E9E9E"}
SEGMENT_LABELS = {"closed": "Closed", "oss_china": "Chinese OSS", "oss_row": "Rest-of-world OSS",
                  "unknown": "Not in catalog"}
AUTHOR_COLORS = {
    "anthropic": "#D97757", "google": "#4285F4", "openai": "#10A37F", "x-ai": "#222222", "deepseek": "#4D6BFE",
    "qwen": "#7B4FE0", "meta-llama": "#0866FF", "mistralai": "#FA520F", "moonshotai": "#16A085",
    "z-ai": "#8E44AD", "minimax": "#E91E63", "other": "#BDBDBD",
}
PALETTE = plt.get_cmap("tab20").colors
SIZE_COLORS = {"small": "#A6CEE3", "medium": "#1F78B4", "large": "#08306B", "unknown": "#BDBDBD"}


def author_color(author: str) -> str:
    """A stable colour for an author (fixed for the study's main ones, hashed for the rest)."""
    if author in AUTHOR_COLORS:
        return AUTHOR_COLORS[author]
    r, g, b = PALETTE[zlib.crc32(author.encode()) % len(PALETTE)]
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


# One distinct colour per study bucket (tab20 has 20: no two buckets share one).
BUCKETS = ["Programming", "Roleplay", "Technology", "Translation", "General Q&A / Knowledge", "Science",
           "Productivity / Writing", "Education", "Literature / Creative Writing", "Health", "Finance", "Legal",
           "Academia", "Marketing", "Trivia", "Adult", "Others"]
CATEGORY_COLORS = dict(zip(BUCKETS, [
    "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F", "#BCBD22",
    "#17BECF", "#AEC7E8", "#FFBB78", "#98DF8A", "#FF9896", "#C5B0D5", "#C49C94", "#DBDB8D",
], strict=True))


def category_color(category: str) -> str:
    """A stable colour per category (fixed for the study's buckets, hashed for anything else)."""
    if category in CATEGORY_COLORS:
        return CATEGORY_COLORS[category]
    r, g, b = PALETTE[zlib.crc32(category.encode()) % len(PALETTE)]
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def new_figure(title: str, width: float = 10, height: float = 5.2):
    """A figure with one axes and a title."""
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    ax.set_title(title, fontsize=13, loc="left")
    ax.grid(True, axis="y", alpha=0.3)
    return fig, ax


def percent_axis(ax, axis: str = "y", decimals: int = 0) -> None:
    """Format an axis holding fractions as percentages."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def tokens_axis(ax, axis: str = "y") -> None:
    """Format an axis of token counts as 1.2K / 3.4M / 5.6B."""
    def fmt(v, _):
        for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
            if abs(v) >= div:
                return f"{v / div:g}{unit}"
        return f"{v:g}"
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(fmt))


def pct(x: float | None, decimals: int = 1) -> str:
    """0.318 -> '31.8%'."""
    return "n/a" if x is None or x != x else f"{100 * x:.{decimals}f}%"


def legend_outside(ax, **kwargs) -> None:
    """A legend to the right of the plot, so it never covers the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, **kwargs)
