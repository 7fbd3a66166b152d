"""The plumbing every job shares: command-line and conf (cli), the one SparkSession and
Delta's jars (session), warehouse paths and Delta reads and writes (warehouse), the
reference dimensions from conf/ (reference), and reading raw files (sources)."""
