"""jobs.common.session: a session's settings, settings for one phase of a job, and small
DataFrames of the driver's rows."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import types as T

from jobs.common.session import local_frame, physical_plan, session_settings, sql_settings

AQE = "spark.sql.adaptive.enabled"
PARTITIONS = "spark.sql.shuffle.partitions"
WHOLE_STAGE = "spark.sql.codegen.wholeStage"
UNSET = "spark.sql.codegen.hugeMethodLimit"  # a setting the test session leaves at its default


def test_settings_hold_inside_the_block_and_the_sessions_own_come_back(spark):
    before = {key: spark.conf.get(key) for key in (AQE, PARTITIONS, WHOLE_STAGE)}
    with sql_settings(spark, {PARTITIONS: 7}):
        with sql_settings(spark, {AQE: True, PARTITIONS: "cores", WHOLE_STAGE: None}):
            assert spark.conf.get(AQE) == "true"  # false in the test session
            assert spark.conf.get(PARTITIONS) == "2"  # local[2]: two cores
            assert spark.conf.get(WHOLE_STAGE) == before[WHOLE_STAGE]  # None: left as it is
        assert spark.conf.get(PARTITIONS) == "7"  # the enclosing block's, not the session's
        assert spark.conf.get(AQE) == before[AQE]
    assert {key: spark.conf.get(key) for key in (AQE, PARTITIONS, WHOLE_STAGE)} == before


def test_a_setting_the_session_did_not_have_is_unset_again_even_after_an_error(spark):
    default = spark.conf.get(UNSET)
    with pytest.raises(RuntimeError, match="inside"):
        with sql_settings(spark, {UNSET: 1234}):
            assert spark.conf.get(UNSET) == "1234"
            raise RuntimeError("inside")
    assert spark.conf.get(UNSET) == default


def test_a_confs_driver_jvm_options_come_after_the_log_settings_not_instead_of_them():
    log = "-Dlog4j.configurationFile=file:"
    plain = session_settings({"conf": {"spark.ui.enabled": "false"}, "shuffle_partitions": 3})
    assert plain["spark.driver.extraJavaOptions"].startswith(log) and " " not in plain["spark.driver.extraJavaOptions"]
    assert (plain["spark.ui.enabled"], plain["spark.sql.shuffle.partitions"]) == ("false", "3")
    options = session_settings({"conf": {"spark.driver.extraJavaOptions": "-XX:+UseSerialGC -Da=b"}})
    first, *rest = options["spark.driver.extraJavaOptions"].split(" ")
    assert first.startswith(log) and first.endswith("conf/log4j2.properties") and rest == ["-XX:+UseSerialGC", "-Da=b"]
    # the time zone is the project's whatever the conf says
    assert session_settings({"conf": {"spark.sql.session.timeZone": "Europe/Paris"}})["spark.sql.session.timeZone"] == "UTC"


def test_a_local_frame_holds_the_rows_typed_as_given_in_a_local_relation(spark):
    schema = T.StructType([
        T.StructField("run", T.StringType(), False), T.StructField("at", T.TimestampType(), False),
        T.StructField("day", T.DateType(), True), T.StructField("rows", T.LongType(), True),
        T.StructField("share", T.DoubleType(), True), T.StructField("ok", T.BooleanType(), True),
        T.StructField("reasons", T.MapType(T.StringType(), T.LongType()), True),
        T.StructField("files", T.ArrayType(T.StructType([T.StructField("path", T.StringType()),
                                                         T.StructField("size", T.LongType())])), True),
    ])
    at = dt.datetime(2025, 5, 5, 12, 30, 1, 250)  # naive, UTC: the session's time zone
    rows = [("r1", at, dt.date(2025, 5, 5), 2**40, 0.25, True, {"missing_model": 3}, [("a.jsonl", 10)]),
            ("r2", at, None, None, None, None, None, None)]
    df = local_frame(spark, rows, schema)
    assert df.schema == schema  # the nullability as given, too
    got = sorted((r.run, r.at, r.day, r.rows, r.share, r.ok, r.reasons,
                  r.files and [(f.path, f.size) for f in r.files]) for r in df.collect())
    assert got == rows
    # the timestamp is that UTC instant, not the driver's local wall time
    assert df.filter("run = 'r1'").selectExpr("unix_micros(at)").first()[0] == 1746448201000250
    # the rows are in the plan itself: no RDD of pickled rows (a Python worker) behind it
    plan = physical_plan(df.filter("rows > 0"))
    assert "LocalTableScan" in plan and "ExistingRDD" not in plan


def test_a_local_frame_from_no_rows_and_a_ddl_schema_and_a_row_of_the_wrong_width(spark):
    empty = local_frame(spark, [], "generation_id string, confidence double")
    assert (empty.schema.simpleString(), empty.count()) == ("struct<generation_id:string,confidence:double>", 0)
    with pytest.raises(ValueError):
        local_frame(spark, [("g1", 0.5, "extra")], "generation_id string, confidence double")
