"""No private py4j in jobs/ and transforms/ (the door to Spark Connect stays open).

`_jdf`, `_jvm`, `_jsc`, `_sc` and friends reach into the JVM behind PySpark's back;
`sparkContext` does not exist on a Spark Connect session. A use may stay only where
PySpark has no public API for the job, and then a comment within the five lines
above says why.
"""

from __future__ import annotations

import re

from jobs.common.cli import PROJECT_ROOT

PRIVATE = re.compile(r"\._(jdf|jvm|jsc|sc|jsparkSession|jconf|jreader|jwrite|jseq|jcol)\b|\bsparkContext\b")
JUSTIFIED = re.compile(r"#.*(no public API|public setLogLevel|public defaultParallelism)", re.IGNORECASE)


def private_uses(text: str) -> list[tuple[int, str, bool]]:
    """(line number, line, justified) for every line that uses private py4j or the SparkContext."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        code = line.split("#", 1)[0]
        if PRIVATE.search(code):
            window = "\n".join(lines[max(0, i - 5):i + 1])
            found.append((i + 1, line.strip(), bool(JUSTIFIED.search(window))))
    return found


def test_the_scanner_sees_a_private_use_and_its_reason():
    text = "a = 1\ndf._jdf.queryExecution()\n# no public API renames a file\nfs = spark.sparkContext._jsc\n"
    assert private_uses(text) == [(2, "df._jdf.queryExecution()", False), (4, "fs = spark.sparkContext._jsc", True)]


def test_no_unexplained_private_py4j_in_jobs_and_transforms():
    offenders = []
    for folder in ("jobs", "transforms", "tools"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for number, line, justified in private_uses(path.read_text(encoding="utf-8")):
                if not justified:
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line}")
    assert offenders == []
