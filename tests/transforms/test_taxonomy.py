"""The taxonomy rules on the real Google NL v2 list: complete, unique, with an Others fallback."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from pyspark.sql import functions as F

from jobs.common import reference
from jobs.common.cli import CONF_DIR, PROJECT_ROOT
from jobs.common.session import local_frame
from transforms import enrich

GOOGLE_LIST = PROJECT_ROOT.parent / "shared" / "data" / "google_nl_content_categories_v2.txt"
BUCKETS = {
    "Programming", "Technology", "Roleplay", "Translation", "Science", "Health", "Finance", "Legal",
    "Education", "Academia", "Marketing", "Trivia", "General Q&A / Knowledge", "Productivity / Writing",
    "Literature / Creative Writing", "Adult", "Others",
}


def rules():
    with open(CONF_DIR / "taxonomy.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def google_paths():
    path = CONF_DIR / "google_nl_content_categories_v2.txt"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_rules_are_unique_and_use_study_buckets():
    prefixes = [r["prefix"] for r in rules()]
    assert len(prefixes) == len(set(prefixes)), "a prefix may appear only once"
    assert {r["bucket"] for r in rules()} <= BUCKETS
    assert "/" in prefixes


def test_conf_copy_is_the_real_list():
    paths = google_paths()
    assert len(paths) == 1091 and len(set(paths)) == 1091
    if GOOGLE_LIST.exists():  # the shared reference data, when it sits beside the checkout
        assert paths == [p for p in GOOGLE_LIST.read_text(encoding="utf-8").splitlines() if p]


def longest_prefix_bucket(path, table):
    parts = path.strip("/").split("/")
    for n in range(len(parts), 0, -1):
        key = "/" + "/".join(parts[:n])
        if key in table:
            return table[key]
    return table["/"]


def test_every_real_path_maps_to_exactly_one_bucket(spark):
    paths = google_paths()
    df = local_frame(spark, [(p,) for p in paths], "category_path string")
    out = enrich.taxonomy_bucket(df, reference.load_taxonomy(spark)).collect()
    assert len(out) == 1091  # one row per path: none lost, none duplicated
    got = {r.category_path: r.category for r in out}
    table = {r["prefix"]: r["bucket"] for r in rules()}
    # An independent pure-Python longest-prefix match must agree with the Spark one.
    assert got == {p: longest_prefix_bucket(p, table) for p in paths}
    counts = Counter(got.values())
    assert counts["Programming"] == 6  # the six /Computers & Electronics/Programming paths
    assert got["/Reference/Language Resources/Foreign Language Resources"] == "Translation"
    assert got["/Science/Computer Science/Machine Learning & Artificial Intelligence"] == "Science"
    assert got["/Games/Roleplaying Games"] == "Roleplay"


@pytest.mark.parametrize("path", ["/Unheard Of/Thing", "/", "/Gamesx"])
def test_unknown_path_falls_to_others(spark, path):
    df = local_frame(spark, [(path,)], "category_path string")
    row = enrich.taxonomy_bucket(df, reference.load_taxonomy(spark)).select(F.col("category")).first()
    assert row.category == "Others"
