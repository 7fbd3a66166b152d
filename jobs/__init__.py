"""The commands of the state-of-ai pipeline, each `main(argv)` -> one `run(spark, cfg)`:
the stages (ingest, enrich, summarize; pipeline runs them in order), table upkeep
(maintain), the synthetic year (generate), and reading gold without Spark (plot,
export). Their shared plumbing is in jobs.common; every rule about the data is in
transforms."""

__version__ = "0.1.0"
