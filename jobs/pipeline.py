"""The whole pipeline in one Spark application: ingest -> enrich -> summarize.

    python -m jobs.pipeline --events PATH [--labels PATH] [--models CSV] --warehouse DIR [--conf FILE]
    spark-submit ... jobs/pipeline.py <same arguments>

Re-running on the same input changes nothing: ingest reads no file it took in
unchanged before (and drops the requests bronze already holds from any file it
reads), enrich re-derives only changed dates, and summarize only changed weeks.
"""

from __future__ import annotations

import os
import sys
import time

if __package__ in (None, ""):  # run as a file by spark-submit: make the project importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs import enrich, ingest  # noqa: E402
from jobs.common.cli import STAGES, base_parser, exit_with, parse, run_cli  # noqa: E402
from jobs.common.session import build_session  # noqa: E402


def run(spark, cfg: dict) -> dict:
    """Run the stages in order; return each stage's result and wall time."""
    results = {}
    for stage in cfg.get("stages", STAGES):
        started = time.perf_counter()
        if stage == "ingest":
            results[stage] = ingest.run(spark, cfg)
        elif stage == "enrich":
            results[stage] = enrich.run(spark, cfg)
        elif stage == "summarize":
            from jobs import summarize

            results[stage] = summarize.run(spark, cfg)
        results[f"{stage}_seconds"] = seconds = time.perf_counter() - started
        rows = stage_rows(stage, results[stage])
        rate = f" ({rows:,} rows, {rows / seconds:,.0f} rows/s)" if rows is not None and seconds > 0 else ""
        print(f"pipeline: {stage} done in {seconds:.1f}s{rate}", flush=True)
    return results


def stage_rows(stage: str, result) -> int | None:
    """The rows a stage worked through: input rows read (ingest), silver rows written
    (enrich), aggregate rows gold was derived from (summarize)."""
    if stage == "ingest":
        return sum(acc.read for acc in result.values())
    if stage == "enrich":
        return result.get("rows")
    return result.get("aggregate_rows")


def main(argv=None) -> int:
    """Command-line entry point."""
    parser = base_parser("jobs.pipeline", "Run ingest, enrich and summarize.")
    ingest.add_arguments(parser)
    enrich.add_arguments(parser)
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run")
    args = parse(parser, argv)

    def body():
        cfg = enrich.apply_arguments(ingest.config_from_args(args), args)
        stages = [s.strip() for s in args.stages.split(",") if s.strip()]
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            from jobs.common.cli import PipelineError

            raise PipelineError(f"--stages: unknown stage(s) {', '.join(unknown)} (want {', '.join(STAGES)})")
        cfg["stages"] = stages
        run(build_session(cfg, "state-of-ai pipeline"), cfg)

    return run_cli(body)


if __name__ == "__main__":
    exit_with(main())
