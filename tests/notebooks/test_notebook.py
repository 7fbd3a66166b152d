"""The notebook runs top to bottom on a small warehouse, and so does the report job."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from jobs import plot
from jobs.cli import PROJECT_ROOT


def test_notebook_executes(generated_warehouse, monkeypatch):
    monkeypatch.setenv("STATE_OF_AI_WAREHOUSE", generated_warehouse["warehouse"])
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / "state_of_ai.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT / "notebooks")}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 20  # the hand-drawn figure plus every figure of the report


def test_report_from_generated_warehouse(spark, cfg, generated_warehouse, tmp_path):
    report = plot.run(spark, {**cfg, "warehouse": generated_warehouse["warehouse"], "plot_out": str(tmp_path)})
    text = report.read_text()
    assert "class='missing'" not in text
    assert "open-weights share of tokens, last 4 weeks".lower() in text.lower()
