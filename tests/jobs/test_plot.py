"""The report: every chapter present, images embedded, a missing table is a message not a crash."""

from __future__ import annotations

import re

from jobs import plot
from tests.helpers import GOLD


def test_report_has_every_section_and_embeds_images(tmp_path):
    report = plot.write_report(GOLD, {"rows_read": 10, "rows_added": 8, "rows_quarantined": 1,
                                      "duplicates_dropped": 1, "runs": 1}, tmp_path)
    text = report.read_text()
    for title in ("Open versus closed weights", "Categories", "Agentic inference", "Geography and language",
                  "Retention", "Cost and usage"):
        assert f">{title}</h2>" in text
    images = re.findall(r"src='data:image/png;base64,", text)
    assert len(images) >= 17
    assert "src='http" not in text and "src=\"http" not in text  # self-contained
    assert "class='missing'" not in text
    assert "<td>10</td><td>8</td><td>1</td><td>1</td>" in text
    assert (tmp_path / "segment_share.png").stat().st_size > 10_000


def test_missing_gold_table_is_a_message(tmp_path):
    partial = {k: v for k, v in GOLD.items() if k not in ("weekly_tool_call_share", "cohort_retention")}
    text = plot.write_report(partial, None, tmp_path).read_text()
    assert "tool_call_share: gold table(s) missing or empty: weekly_tool_call_share" in text
    assert "gold table(s) missing or empty: cohort_retention" in text
    assert ">Cost and usage</h2>" in text  # later sections still drawn
