"""jobs.common.session: a session's settings, and settings for one phase of a job."""

from __future__ import annotations

import pytest

from jobs.common.session import session_settings, sql_settings

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
