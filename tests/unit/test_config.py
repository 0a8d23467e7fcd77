"""Typed settings read once (shared.config) and docs' and signing's defaults."""

import pytest

from services.docs.settings import DocsSettings
from services.signing.settings import SigningSettings
from shared.config import BadSetting, load_settings


def test_defaults_stand_where_the_config_says_nothing():
    assert load_settings(DocsSettings, {}) == DocsSettings(
        max_upload_bytes=50 * 1024 * 1024, retention_days=3650, separate_secret_series=True)
    assert load_settings(SigningSettings, {"MAX_SIGN_BYTES": None}).max_sign_bytes == (
        100 * 1024 * 1024)


def test_values_are_converted_as_yaml_or_the_environment_give_them():
    settings = load_settings(DocsSettings, {"MAX_UPLOAD_BYTES": "2097152",
                                            "RETENTION_DAYS": 1,
                                            "SEPARATE_SECRET_SERIES": True})
    assert settings == DocsSettings(2097152, 1, True)
    for text, expected in (("false", False), ("TRUE", True), ("", False), ("on", True)):
        assert load_settings(DocsSettings, {"SEPARATE_SECRET_SERIES": text}
                             ).separate_secret_series is expected


@pytest.mark.parametrize("config, setting", [
    ({"MAX_UPLOAD_BYTES": "50MB"}, "MAX_UPLOAD_BYTES"),
    ({"RETENTION_DAYS": "0"}, "RETENTION_DAYS"),
    ({"SEPARATE_SECRET_SERIES": "maybe"}, "SEPARATE_SECRET_SERIES"),
])
def test_a_bad_value_is_refused_naming_the_setting(config, setting):
    with pytest.raises(BadSetting) as err:
        load_settings(DocsSettings, config)
    assert err.value.setting == setting and str(err.value).startswith(setting)


def test_routing_reads_its_seed_and_a_fractional_check_interval():
    from services.routing.settings import RoutingSettings

    assert load_settings(RoutingSettings, {}) == RoutingSettings(
        max_upload_bytes=50 * 1024 * 1024, retention_days=3650, directory_seed="sample",
        overdue_check_seconds=300.0)
    settings = load_settings(RoutingSettings, {"OVERDUE_CHECK_SECONDS": "0.5",
                                               "DIRECTORY_SEED": "national:2"})
    assert (settings.overdue_check_seconds, settings.directory_seed) == (0.5, "national:2")
    for bad in ("soon", "0", "-1", "nan"):
        with pytest.raises(BadSetting) as err:
            load_settings(RoutingSettings, {"OVERDUE_CHECK_SECONDS": bad})
        assert err.value.setting == "OVERDUE_CHECK_SECONDS"


def test_docs_reads_its_issue_deadline_settings():
    from services.docs.settings import DocsSettings

    defaults = load_settings(DocsSettings, {})
    assert (defaults.urgent_issue_minutes, defaults.overdue_check_seconds) == (120, 300.0)
    settings = load_settings(DocsSettings, {"URGENT_ISSUE_MINUTES": "30",
                                            "OVERDUE_CHECK_SECONDS": "60"})
    assert (settings.urgent_issue_minutes, settings.overdue_check_seconds) == (30, 60.0)
    for bad in ("hai giờ", "0", "-5"):
        with pytest.raises(BadSetting) as err:
            load_settings(DocsSettings, {"URGENT_ISSUE_MINUTES": bad})
        assert err.value.setting == "URGENT_ISSUE_MINUTES"
