"""No Python UDF anywhere in the project: built-in column functions only."""

from __future__ import annotations

import re

from jobs.common.cli import PROJECT_ROOT

PATTERNS = [r"\budf\s*\(", r"@udf\b", r"pandas_udf", r"\.register\s*\(", r"mapInPandas", r"applyInPandas",
            r"\.rdd\.map", r"\bF\.udf\b", r"functions\.udf"]


def test_no_python_udfs():
    offenders = []
    for folder in ("jobs", "transforms", "figures", "tools"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            offenders += [f"{path.relative_to(PROJECT_ROOT)}: {p}" for p in PATTERNS if re.search(p, text)]
    assert offenders == []
