"""The notebook runs top to bottom on a small warehouse, and so does the report job,
with no Spark: gold is read with deltalake (delta-rs)."""

from __future__ import annotations

import subprocess
import sys

import nbformat
from nbclient import NotebookClient

from jobs.common.cli import PROJECT_ROOT


def test_notebook_executes(generated_warehouse, monkeypatch):
    monkeypatch.setenv("STATE_OF_AI_WAREHOUSE", generated_warehouse["warehouse"])
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / "state_of_ai.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT / "notebooks")}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 20  # the hand-drawn figure plus every figure of the report


def test_report_job_runs_where_spark_cannot_be_imported(generated_warehouse, tmp_path):
    # A `pyspark` package first on the path that refuses to import: the plotting step
    # must not need it (nor Java).
    blocker = tmp_path / "blocker" / "pyspark"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('pyspark is not available here')\n")
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "jobs.plot", "--warehouse", generated_warehouse["warehouse"], "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{blocker.parent}:{PROJECT_ROOT}", "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = (out / "report.html").read_text()
    assert "class='missing'" not in text
    assert "open-weights share of tokens, last 4 weeks".lower() in text.lower()
    check = subprocess.run([sys.executable, "-c", "import pyspark"], capture_output=True, text=True,
                           env={"PYTHONPATH": str(blocker.parent)})
    assert "pyspark is not available here" in check.stderr  # the blocker does block
