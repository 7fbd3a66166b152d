"""Entry points of the state-of-ai pipeline: each stage is `main(argv)` -> `run(spark, cfg)`."""

__version__ = "0.1.0"
