"""Each service's own server users may do their work and nothing more
(``infra.privileges``), on the real RabbitMQ and PostgreSQL."""

import uuid
from urllib.parse import unquote, urlsplit

import pika
import psycopg
import pytest
from pika.exceptions import (
    ChannelClosedByBroker, ProbableAccessDeniedError, ProbableAuthenticationError,
)
from psycopg.conninfo import conninfo_to_dict

from infra.provision import amqp_uri
from services.audit.log import LOG_DDL
from shared.migrations import migrate
from tests.support import servers

pytestmark = pytest.mark.integration


@pytest.fixture
def vhost(amqp_uri):
    parts = urlsplit(amqp_uri)
    assert unquote(parts.username) == servers.HARNESS_USER, "the harness provisions the vhost"
    return unquote(parts.path[1:])


def connect(vhost, service=None, user=None, password=None):
    if service:
        user = f"{servers.SERVICE_USER_PREFIX}-{service}"
        password = servers.credentials()["services"][service]
    return pika.BlockingConnection(pika.URLParameters(
        amqp_uri("127.0.0.1:5672", vhost, user, password)))


def refused(action):
    with pytest.raises(ChannelClosedByBroker) as err:
        action()
    assert err.value.reply_code == 403, err.value
    return err.value.reply_text


@pytest.fixture
def exchanges(amqp_uri):
    """The platform's exchanges and a subscriber queue, declared by the harness."""
    with pika.BlockingConnection(pika.URLParameters(amqp_uri)) as conn:
        ch = conn.channel()
        for name in ("docs.events", "routing.events", "nameko-rpc"):
            ch.exchange_declare(name, exchange_type="topic", durable=True)
        ch.queue_declare("rpc-routing", durable=True)
        ch.queue_declare("evt-routing-ConsignmentSent--docs.on_consignment_sent", durable=True,
                         arguments={"x-max-priority": 3})


def test_a_service_publishes_on_its_own_exchange_and_not_on_another_services(vhost, exchanges):
    with connect(vhost, "docs") as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("docs.events", "DocumentSubmitted", b"{}")  # its own: accepted
        text = refused(lambda: ch.basic_publish("routing.events", "ConsignmentSent", b"{}"))
    assert "routing.events" in text


def test_a_service_cannot_consume_or_bind_another_services_queue(vhost, exchanges):
    with connect(vhost, "signing") as conn:
        refused(lambda: conn.channel().basic_consume("rpc-routing", lambda *a: None))
    with connect(vhost, "signing") as conn:
        refused(lambda: conn.channel().queue_bind(
            "evt-routing-ConsignmentSent--docs.on_consignment_sent", "routing.events",
            "ConsignmentSent"))
    with connect(vhost, "docs") as conn:  # the queue's own consumer may
        conn.channel().basic_consume("evt-routing-ConsignmentSent--docs.on_consignment_sent",
                                     lambda *a: None)


def test_a_service_calls_only_the_methods_it_needs(vhost, exchanges):
    with connect(vhost, "signing") as conn:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish("nameko-rpc", "docs.get_document", b"{}")
        text = refused(lambda: ch.basic_publish("nameko-rpc", "audit.verify", b"{}"))
    assert "audit.verify" in text
    with connect(vhost, "docs") as conn:  # docs calls nobody
        ch = conn.channel()
        ch.confirm_delivery()
        refused(lambda: ch.basic_publish("nameko-rpc", "signing.sign_document", b"{}"))


def test_guest_is_refused_on_the_platforms_vhost(vhost):
    with pytest.raises((ProbableAccessDeniedError, ProbableAuthenticationError,
                        pika.exceptions.ConnectionClosedByBroker)):
        connect(vhost, user="guest", password="guest")


@pytest.fixture
def provisioned_db(pg_dsn):
    from infra.provision import apply_postgres, pg_dsn as dsn_for

    passwords = servers.credentials()["services"]
    database = conninfo_to_dict(pg_dsn)["dbname"]
    apply_postgres(pg_dsn, database, passwords, servers.SERVICE_USER_PREFIX)

    def login(service, role=None):
        role = role or f"{servers.SERVICE_USER_PREFIX.replace('-', '_')}_{service}"
        return psycopg.connect(dsn_for(pg_dsn, database, role, passwords[service]),
                               autocommit=True)
    return login


def test_each_service_login_owns_its_schema_only_and_is_no_superuser(provisioned_db):
    with provisioned_db("routing") as routing:
        routing.execute("CREATE TABLE routing.secrets (x int)")
        routing.execute("INSERT INTO routing.secrets VALUES (1)")
    with provisioned_db("docs") as docs:
        assert docs.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
                            " WHERE rolname = current_user").fetchone() == (False, False, False)
        docs.execute("CREATE TABLE docs.mine (x int)")  # its own schema: allowed
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            docs.execute("SELECT * FROM routing.secrets")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            docs.execute("CREATE TABLE public.planted (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            docs.execute("CREATE SCHEMA elsewhere")


def test_the_audit_log_is_written_through_a_login_that_may_only_read_and_append(
        provisioned_db):
    with provisioned_db("audit") as owner:
        owner.execute("SET search_path = audit")
        owner.execute(LOG_DDL)
    with provisioned_db("audit", role="lienthong_audit_app") as app:
        app.execute("SET search_path = audit")
        app.execute("INSERT INTO alerts (kind, detail) VALUES ('test', 'appended')")
        entry = (uuid.uuid4(),)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("UPDATE entries SET event_id = %s", entry)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DELETE FROM entries")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("TRUNCATE entries")



def test_the_audit_logs_owner_migrates_the_erasure_function_the_app_login_only_executes(
        provisioned_db):
    """As production runs it: the schema's owner (no superuser) applies the audit
    migrations, erase_document_data included; it is owned by that login, and the
    application's login may execute it but still may not delete any data."""
    from psycopg.conninfo import make_conninfo

    from services.audit.dependencies import SCHEMA

    with provisioned_db("audit") as owner:
        migrate(make_conninfo(**owner.info.get_parameters(),
                              password=owner.info.password), "audit", SCHEMA)
        assert owner.execute(
            "SELECT pg_get_userbyid(proowner), prosecdef FROM pg_proc"
            " WHERE proname = 'erase_document_data'").fetchone() == (
            owner.info.user, True)
    with provisioned_db("audit", role="lienthong_audit_app") as app:
        app.execute("SET search_path = audit")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DELETE FROM payloads")
        with pytest.raises(psycopg.errors.NoDataFound, match="no erasure order"):
            app.execute("SELECT erase_document_data(%s)", (uuid.uuid4(),))


def test_each_service_has_its_own_s3_key_limited_to_the_platforms_buckets(platform):
    import datetime
    import io

    from minio import Minio
    from minio.commonconfig import COMPLIANCE
    from minio.error import S3Error
    from minio.retention import Retention

    keys = platform.s3.service_keys
    assert set(keys) == {"docs", "signing", "routing", "audit"}  # the gateway has none
    platform.object_store()  # the test's bucket, made by the operator's key

    def client(service):
        access, secret = keys[service]
        return Minio(platform.s3.endpoint, access_key=access, secret_key=secret, secure=False)

    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    docs, signing = client("docs"), client("signing")
    stored = docs.put_object(bucket_name=platform.bucket, object_name="a.pdf",
                             data=io.BytesIO(b"%PDF-1.7"), length=8)
    docs.set_object_retention(bucket_name=platform.bucket, object_name="a.pdf",
                              version_id=stored.version_id, config=Retention(COMPLIANCE, until))
    for attempt in (
            lambda: signing.set_object_retention(  # signing locks nothing
                bucket_name=platform.bucket, object_name="a.pdf",
                version_id=stored.version_id, config=Retention(COMPLIANCE, until)),
            lambda: docs.make_bucket(bucket_name=f"{platform.bucket}-x"),
            lambda: docs.bucket_exists(bucket_name="somebody-elses"),
            lambda: Minio(platform.s3.endpoint, access_key="guest", secret_key="guest-secret",
                          secure=False).bucket_exists(bucket_name=platform.bucket)):
        with pytest.raises(S3Error) as err:
            attempt()
        assert err.value.code in ("AccessDenied", "InvalidAccessKeyId",
                                  "SignatureDoesNotMatch"), err.value
