"""The audit service's typed settings (shared.config): today's defaults, and a
bad value refused naming the setting."""

import pytest

from services.audit.settings import AuditSettings
from shared.config import BadSetting, load_settings


def test_the_defaults_stand_where_the_config_says_nothing():
    settings = load_settings(AuditSettings, {"TSA_URL": "", "WITNESS_KEYS": None})
    assert settings == AuditSettings(
        log_origin="lienthong.local/audit-log", checkpoint_seconds=10.0,
        checkpoint_retention_days=3650.0, witness_keys="", tsa_url="",
        tsa_timeout_seconds=10.0, append_batch=500, db_pool_size=10)
    assert settings.witnesses == []


def test_values_are_converted_as_yaml_or_the_environment_give_them():
    settings = load_settings(AuditSettings, {
        "CHECKPOINT_SECONDS": "0.5", "CHECKPOINT_RETENTION_DAYS": 1, "TSA_TIMEOUT_SECONDS": 2,
        "WITNESS_KEYS": " w1+abc  w2+def ", "TSA_URL": "http://127.0.0.1:1/tsa",
        "APPEND_BATCH": "50", "LOG_ORIGIN": "hatinh.gov.vn/audit-log"})
    assert (settings.checkpoint_seconds, settings.checkpoint_retention_days,
            settings.tsa_timeout_seconds, settings.append_batch) == (0.5, 1.0, 2.0, 50)
    assert settings.witnesses == ["w1+abc", "w2+def"]
    assert (settings.tsa_url, settings.log_origin) == (
        "http://127.0.0.1:1/tsa", "hatinh.gov.vn/audit-log")


@pytest.mark.parametrize("config, setting", [
    ({"CHECKPOINT_SECONDS": "soon"}, "CHECKPOINT_SECONDS"),
    ({"CHECKPOINT_SECONDS": "0"}, "CHECKPOINT_SECONDS"),
    ({"CHECKPOINT_RETENTION_DAYS": "-1"}, "CHECKPOINT_RETENTION_DAYS"),
    ({"TSA_TIMEOUT_SECONDS": "ten"}, "TSA_TIMEOUT_SECONDS"),
    ({"APPEND_BATCH": "2.5"}, "APPEND_BATCH"),
    ({"DB_POOL_SIZE": "many"}, "DB_POOL_SIZE"),
])
def test_a_bad_value_is_refused_naming_the_setting(config, setting):
    with pytest.raises(BadSetting) as err:
        load_settings(AuditSettings, config)
    assert err.value.setting == setting and str(err.value).startswith(setting)


def test_the_service_does_not_start_with_a_bad_setting():
    from unittest.mock import Mock

    from services.audit.dependencies import AuditLog

    provider = AuditLog()
    provider.container = Mock(config={"CHECKPOINT_SECONDS": "soon"}, service_name="audit")
    with pytest.raises(BadSetting, match="^CHECKPOINT_SECONDS"):
        provider.setup()  # refused first: no database, broker or key touched
