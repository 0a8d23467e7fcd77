"""Docker Compose's provisioning one-shot: the operator's secrets from the environment,
refused when weak, and the files the broker and SeaweedFS load (``infra.provision``)."""

import json
import os
import stat

import pytest

from infra import privileges as p
from infra import provision


def env_with_all_secrets():
    env = {provision.S3_ADMIN_SECRET_VARIABLE: "admin-" + "a" * 24}
    for service in p.SERVICES:
        for kind in ("amqp", "pg"):
            env[provision.secret_variable(service, kind)] = f"{kind}-{service}-0123456789abcdef"
    for service in p.S3_SERVICES:
        env[provision.secret_variable(service, "s3")] = f"s3/{service}+0123456789abcdef"
    return env


def test_each_services_passwords_come_from_its_own_variables():
    env = env_with_all_secrets()
    amqp = provision.secrets_from_env("amqp", p.SERVICES, env)
    assert amqp["docs"] == env["LIENTHONG_DOCS_AMQP_PASSWORD"] == "amqp-docs-0123456789abcdef"
    assert provision.secrets_from_env("pg", p.SERVICES, env)["gateway"] == \
        env["LIENTHONG_GATEWAY_PG_PASSWORD"]


@pytest.mark.parametrize("value, problem", [
    (None, "is missing"), ("", "is missing"), ("short", "shorter than 16"),
    ("guest", "known default"), ("p@ss:word/with%url-chars", "goes into a URL")])
def test_a_missing_weak_or_url_unsafe_password_is_refused_by_name(value, problem):
    env = env_with_all_secrets()
    env.pop("LIENTHONG_ROUTING_PG_PASSWORD")
    if value is not None:
        env["LIENTHONG_ROUTING_PG_PASSWORD"] = value
    with pytest.raises(SystemExit) as err:
        provision.secrets_from_env("pg", p.SERVICES, env)
    assert "LIENTHONG_ROUTING_PG_PASSWORD" in str(err.value) and problem in str(err.value)


def test_s3_identities_one_per_service_on_the_bucket_and_an_admin():
    env = env_with_all_secrets()
    config = provision.compose_s3_config("lienthong-documents", env)
    by_key = {i["credentials"][0]["accessKey"]: i for i in config["identities"]}
    assert set(by_key) == {"lienthong-admin", *(f"lienthong-{s}" for s in p.S3_SERVICES)}
    assert by_key["lienthong-admin"]["actions"] == ["Admin"]
    assert by_key["lienthong-admin"]["credentials"][0]["secretKey"] == \
        env["LIENTHONG_S3_ADMIN_SECRET_KEY"]
    docs = by_key["lienthong-docs"]
    assert docs["credentials"][0]["secretKey"] == env["LIENTHONG_DOCS_S3_SECRET_KEY"]
    assert docs["actions"] == p.s3_actions("docs", "lienthong-documents")
    assert "lienthong-gateway" not in by_key  # the gateway streams through docs
    env["LIENTHONG_S3_ADMIN_SECRET_KEY"] = "admin/0123456789abcdef@minio"
    with pytest.raises(SystemExit, match="LIENTHONG_S3_ADMIN_SECRET_KEY has characters"):
        provision.compose_s3_config("lienthong-documents", env)
    env.pop("LIENTHONG_S3_ADMIN_SECRET_KEY")
    with pytest.raises(SystemExit, match="LIENTHONG_S3_ADMIN_SECRET_KEY is missing"):
        provision.compose_s3_config("lienthong-documents", env)


def test_files_for_the_servers_are_private_or_readable_by_one_group(tmp_path):
    private, shared = tmp_path / "a.json", tmp_path / "b.json"
    provision.write_private(str(private), "{}")
    provision.write_private(str(shared), '{"x": 1}', group=os.getgid())
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640
    assert shared.stat().st_gid == os.getgid()
    provision.write_private(str(shared), '{"x": 2}', group=os.getgid())  # replaced whole
    assert json.loads(shared.read_text()) == {"x": 2}
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a.json", "b.json"]  # no temp left


def test_a_refused_secret_stops_the_one_shot_before_any_file_or_server(tmp_path):
    env = env_with_all_secrets()
    env["LIENTHONG_AUDIT_S3_SECRET_KEY"] = "changeme"
    defs, s3 = tmp_path / "definitions.json", tmp_path / "s3.json"
    with pytest.raises(SystemExit, match="LIENTHONG_AUDIT_S3_SECRET_KEY is a known default"):
        # --pg names a port nothing listens on: reaching it would fail otherwise.
        provision.main(["--from-env", "--pg", "postgresql://postgres@127.0.0.1:9/postgres",
                        "--rabbit-definitions-out", str(defs), "--s3-config-out", str(s3)],
                       environ=env)
    assert not defs.exists() and not s3.exists()
