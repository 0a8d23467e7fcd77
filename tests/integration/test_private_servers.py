"""The private servers fault tests kill: a SIGKILL is a real crash, and what
was committed (PostgreSQL) or confirmed (RabbitMQ) is still there after the
restart. The shared servers are never touched."""

import shutil
import subprocess
import sys
import textwrap

import amqp
import psycopg
import pytest

from infra.privileges import pg_role
from infra.stack import ROOT, port_open
from tests.support import servers
from tests.support.client import wait_for
from tests.support.private import PRIVATE_VHOST, pid_alive, private_platform

SHARED_RABBIT, SHARED_POSTGRES = ("127.0.0.1", 5672), ("127.0.0.1", 5432)


def test_postgres_keeps_what_was_committed_across_a_sigkill(private_postgres):
    pg = private_postgres
    dsn = pg.create_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v text)")
        conn.execute("INSERT INTO t VALUES ('committed')")
    in_flight = psycopg.connect(dsn)
    in_flight.execute("INSERT INTO t VALUES ('never committed')")
    postmaster, port = pg.proc.pid, pg.port

    pg.kill()
    assert pg.proc.returncode == -9
    with pytest.raises(psycopg.OperationalError):
        in_flight.execute("SELECT 1")
    assert not pg.answers()

    pg.restart()
    assert pg.proc.pid != postmaster and pg.port == port
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [("committed",)]
    assert port_open(*SHARED_POSTGRES)  # the shared server is not ours to touch


def test_rabbit_keeps_a_confirmed_persistent_message_across_a_sigkill(private_rabbit):
    node = private_rabbit
    beam = node.os_pid()
    assert node.ctl("eval", "os:getpid().").strip().strip('"') == str(beam)
    with amqp.Connection(f"127.0.0.1:{node.port}") as conn:
        channel = conn.channel()
        channel.queue_declare("kept", durable=True, auto_delete=False)
        channel.confirm_select()
        channel.basic_publish_confirm(amqp.Message("văn bản", delivery_mode=2),
                                      exchange="", routing_key="kept")

    node.kill()
    assert not node.answers()
    assert port_open(*SHARED_RABBIT)  # only this node died

    node.restart()
    assert node.os_pid() != beam
    with amqp.Connection(f"127.0.0.1:{node.port}") as conn:
        message = conn.channel().basic_get("kept", no_ack=True)
    assert message is not None and message.body == "văn bản"


def test_a_private_platform_gives_each_service_its_own_logins(private_rabbit, private_postgres,
                                                              s3_server, tmp_path):
    platform = private_platform(private_rabbit, private_postgres, s3_server, str(tmp_path))
    env = platform.service_env("routing")
    uri = env["LIENTHONG_AMQP_URI"]
    assert f":{private_rabbit.port}/" in uri and f"{servers.SERVICE_USER_PREFIX}-routing" in uri
    with amqp.Connection(f"127.0.0.1:{private_rabbit.port}",
                         userid=f"{servers.SERVICE_USER_PREFIX}-routing",
                         password=servers.credentials()["services"]["routing"],
                         virtual_host=PRIVATE_VHOST) as conn:
        channel = conn.channel()
        channel.confirm_select()
        with pytest.raises(amqp.exceptions.AccessRefused):  # docs' exchange is not routing's
            channel.basic_publish_confirm(amqp.Message("forged"), exchange="docs.events",
                                          routing_key="DocumentRegistered")
    with pytest.raises(amqp.exceptions.NotAllowed):  # guest has no part in the vhost
        with amqp.Connection(f"127.0.0.1:{private_rabbit.port}",
                             virtual_host=PRIVATE_VHOST) as conn:
            pass
    with psycopg.connect(env["LIENTHONG_PG_DSN"]) as conn:
        assert conn.execute("SELECT current_user, rolsuper FROM pg_roles"
                            " WHERE rolname = current_user").fetchone() == \
            (pg_role("routing", servers.SERVICE_USER_PREFIX), False)


def test_private_servers_end_with_the_run_that_started_them():
    """A test run killed outright (a CI timeout) leaves no private server behind."""
    started = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os
        from tests.support.private import PrivatePostgres, PrivateRabbit
        rabbit, postgres = PrivateRabbit().start(), PrivatePostgres().start()
        print(rabbit.os_pid(), postgres.proc.pid, rabbit.dir, postgres.dir, flush=True)
        os.kill(os.getpid(), 9)
        """)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert started.returncode == -9, started.stderr
    beam, postmaster, *folders = started.stdout.split()
    try:
        wait_for(lambda: not any(pid_alive(int(p)) for p in (beam, postmaster)), timeout=30,
                 what="the orphaned servers to end")
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
