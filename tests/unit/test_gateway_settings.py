"""The gateway's typed settings (shared.config): today's defaults, and a bad
value refused naming the setting."""

from unittest.mock import Mock

import pytest

from services.gateway.settings import GatewaySettings
from shared.auth import MAX_TOKEN_TTL
from shared.config import BadSetting, load_settings


def test_the_defaults_stand_where_the_config_says_nothing():
    settings = load_settings(GatewaySettings, {"SEED_USERS": "", "DOCS_URL": None})
    assert settings == GatewaySettings(
        docs_url="http://127.0.0.1:8001", max_upload_bytes=50 * 1024 * 1024, seed_users="",
        token_ttl_seconds=8 * 3600, web_secure_cookies="auto", web_idle_seconds=1800,
        login_audit_window_seconds=300.0, rpc_in_flight_per_service=0)
    # A package carries two files' worth, base64 (a third more).
    assert settings.package_limit == 50 * 1024 * 1024 * 2 * 4 // 3
    assert settings.in_flight_per_service(40) == 10  # a quarter of the workers
    assert settings.in_flight_per_service(2) == 1


def test_values_are_converted_as_yaml_or_the_environment_give_them():
    settings = load_settings(GatewaySettings, {
        "DOCS_URL": "http://docs:8001/", "MAX_UPLOAD_BYTES": "2097152",
        "TOKEN_TTL_SECONDS": "2", "LOGIN_AUDIT_WINDOW_SECONDS": "1.5",
        "RPC_IN_FLIGHT_PER_SERVICE": 3, "SEED_USERS": "/tmp/users.json"})
    assert (settings.docs_url, settings.max_upload_bytes, settings.token_ttl_seconds,
            settings.login_audit_window_seconds, settings.seed_users) == (
        "http://docs:8001/", 2097152, 2, 1.5, "/tmp/users.json")
    assert settings.in_flight_per_service(40) == 3
    for text, expected in (("TRUE", "true"), ("1", "true"), ("yes", "true"),
                           ("false", "false"), ("0", "false"), ("no", "false"),
                           ("Auto", "auto"), ("", "auto")):
        assert load_settings(GatewaySettings, {"WEB_SECURE_COOKIES": text}
                             ).web_secure_cookies == expected


@pytest.mark.parametrize("config, setting", [
    ({"MAX_UPLOAD_BYTES": "50MB"}, "MAX_UPLOAD_BYTES"),
    ({"TOKEN_TTL_SECONDS": "0"}, "TOKEN_TTL_SECONDS"),
    ({"TOKEN_TTL_SECONDS": str(MAX_TOKEN_TTL + 1)}, "TOKEN_TTL_SECONDS"),
    ({"TOKEN_TTL_SECONDS": "a day"}, "TOKEN_TTL_SECONDS"),
    ({"LOGIN_AUDIT_WINDOW_SECONDS": "five minutes"}, "LOGIN_AUDIT_WINDOW_SECONDS"),
    ({"RPC_IN_FLIGHT_PER_SERVICE": "-1"}, "RPC_IN_FLIGHT_PER_SERVICE"),
    ({"WEB_SECURE_COOKIES": "maybe"}, "WEB_SECURE_COOKIES"),
])
def test_a_bad_value_is_refused_naming_the_setting(config, setting):
    with pytest.raises(BadSetting) as err:
        load_settings(GatewaySettings, config)
    assert err.value.setting == setting and str(err.value).startswith(setting)


def test_the_gateway_does_not_start_with_a_bad_setting():
    from services.gateway.dependencies import GatewayIdentity

    provider = GatewayIdentity()
    provider.container = Mock(config={"TOKEN_TTL_SECONDS": "soon"}, service_name="gateway",
                              max_workers=40)
    with pytest.raises(BadSetting, match="^TOKEN_TTL_SECONDS"):
        provider.setup()  # refused before the key is read


def test_an_idle_timeout_of_no_time_is_refused_naming_it():
    for text in ("0", "-1", "soon"):
        with pytest.raises(BadSetting, match="WEB_IDLE_SECONDS"):
            load_settings(GatewaySettings, {"WEB_IDLE_SECONDS": text})
    assert load_settings(GatewaySettings, {"WEB_IDLE_SECONDS": "600"}).web_idle_seconds == 600
