"""What `make dist` ships: the environment's requirement list and the conf a cluster-mode
driver finds. (The archive itself is built, unpacked and run in tests/cluster.)"""

from __future__ import annotations

from importlib import metadata

from jobs.common.cli import CONF_DIR, conf_path
from tools import package


def test_the_environment_pins_what_the_jobs_import_at_the_installed_versions():
    pins = dict(line.split("==") for line in package.env_requirements())
    # what the Spark jobs import, and what pandas and delta-spark need in turn
    for name in ["pyyaml", "numpy", "scipy", "pandas", "pyarrow", "delta-spark", "python-dateutil",
                 "importlib-metadata"]:
        assert pins[name] == metadata.version(name), name
    # the cluster's Spark provides pyspark (delta-spark requires it: not followed), and
    # the reading and drawing side stays off the cluster
    assert not {"pyspark", "py4j", "matplotlib", "deltalake"} & set(pins)
    # the dev tools are an extra, not a run-time requirement
    assert not {"pytest", "chispa", "duckdb", "venv-pack"} & set(pins)


def test_a_relative_conf_path_missing_here_is_the_projects_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty folder, as a cluster-mode driver starts in
    assert conf_path("conf/cluster.yaml") == CONF_DIR / "cluster.yaml"
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "cluster.yaml").write_text("spark: {}\n")
    assert conf_path("conf/cluster.yaml").resolve() == tmp_path / "conf" / "cluster.yaml"  # a user's own wins
    assert conf_path("mine.yaml").name == "mine.yaml"  # anything else stays what it was
