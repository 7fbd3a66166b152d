"""The report: every chapter present, images embedded, a missing table is a message not a crash."""

from __future__ import annotations

import json
import re

import pytest

from jobs import plot
from jobs.common.cli import PipelineError
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


def test_a_generated_years_manifest_puts_the_planted_values_in_the_report(tmp_path):
    manifest = tmp_path / "_manifest.json"
    manifest.write_text(json.dumps({"requests": 10, "planted_elasticity": {"cross_section": -0.06,
                                                                           "within_model": -0.5}}))
    planted = plot.planted_values(str(manifest))
    text = plot.write_report(GOLD, None, tmp_path / "report", planted).read_text()
    assert "planted within models -0.50" in text and "planted across models -0.06" in text
    assert (tmp_path / "report" / "price_elasticity.png").is_file()
    # Without it, no planted values; a file that is not a manifest is a one-line error.
    assert "planted" not in plot.write_report(GOLD, None, tmp_path / "plain").read_text()
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(PipelineError, match="not a generator manifest"):
        plot.planted_values(str(tmp_path / "other.json"))
    with pytest.raises(PipelineError, match="no such file"):
        plot.planted_values(str(tmp_path / "missing.json"))
