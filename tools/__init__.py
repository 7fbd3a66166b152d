"""Tools beside the pipeline, never shipped to a cluster: the benchmark and its DuckDB
yardstick (bench, baseline), a loopback standalone cluster (standalone), what
spark-submit ships (package), and the model catalog's rebuild (build_catalog)."""
