"""Who is calling, against the real servers: the gateway's bearer tokens stop
working on logout, on disabling, on a password change and for unknown users;
the services believe nothing but a fresh gateway assertion for exactly the
service and method being called."""

import time

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nameko.standalone.rpc import ClusterRpcProxy

from services.audit.service import AuditService
from services.docs.service import DocsService
from services.gateway.service import GatewayService
from services.routing.service import RoutingService
from services.signing.service import SigningService
from shared import auth
from shared.envelope import Actor
from shared.errors import Unauthenticated
from shared.keys import load_or_create_ed25519
from tests.support.client import PROVINCE, Client
from tests.support.gateway import PASSWORD, login, seed_file
from tests.support.pdf import make_pdf

pytestmark = pytest.mark.integration

USERS = [
    {"user_id": "van.thu", "agency": PROVINCE, "role": "clerk", "full_name": "Trần Thị Bình"},
    {"user_id": "quan.tri", "agency": PROVINCE, "role": "admin", "full_name": "Vũ Thị Giang"},
    {"user_id": "quan.tri.2", "agency": PROVINCE, "role": "admin", "full_name": "Đỗ Văn Hải"},
]
AUDITOR = Actor("thanh.tra", "000.00.00.G22", "auditor")
# A read-only call per service that an auditor may make.
PROBES = {"docs": "state_summary", "signing": "state_summary", "routing": "state_summary",
          "audit": "status"}


# -- the gateway's bearer tokens ---------------------------------------------------------

@pytest.fixture
def gateway(run_container, platform, tmp_path):
    """The gateway over HTTP (with USERS) and routing behind it; ``url``."""
    run_container(RoutingService)
    run_container(GatewayService, WEB_SERVER_ADDRESS=f"127.0.0.1:{platform.gateway_port}",
                  SEED_USERS=seed_file(tmp_path, USERS))
    return platform.gateway_url


def token_of(url, user_id, password=PASSWORD):
    answer = login(url, user_id, password)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def call(url, method, path, token, body=None):
    return requests.request(method, url + path, json=body, timeout=30,
                            headers={"Authorization": f"Bearer {token}"})


def agencies(url, token):
    """An admin's call that goes on to routing (with an assertion)."""
    return call(url, "GET", "/v1/admin/agencies", token)


def assert_unauthenticated(response, words):
    assert response.status_code == 401, response.text
    assert words in response.json()["error"]["message"]


def test_a_token_stops_working_at_logout(gateway):
    token, other = token_of(gateway, "quan.tri"), token_of(gateway, "quan.tri")
    assert agencies(gateway, token).status_code == 200

    logout = call(gateway, "POST", "/v1/auth/logout", token)
    assert logout.status_code == 200, logout.text

    assert_unauthenticated(agencies(gateway, token), "logged out")
    assert_unauthenticated(call(gateway, "POST", "/v1/auth/logout", token), "logged out")
    assert agencies(gateway, other).status_code == 200  # the user's other session lives on


def test_a_disabled_users_tokens_stop_working_at_once_and_they_cannot_log_in(gateway):
    victim, admin = token_of(gateway, "quan.tri.2"), token_of(gateway, "quan.tri")
    assert agencies(gateway, victim).status_code == 200

    disabled = call(gateway, "POST", "/v1/admin/users/quan.tri.2/disable", admin)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["user_id"] == "quan.tri.2" and disabled.json()["disabled_at"]

    assert_unauthenticated(agencies(gateway, victim), "disabled")
    assert login(gateway, "quan.tri.2").status_code == 401
    # Only admins disable, nobody disables themself, and an unknown user is named.
    clerk = token_of(gateway, "van.thu")
    assert call(gateway, "POST", "/v1/admin/users/quan.tri/disable", clerk).status_code == 403
    assert call(gateway, "POST", "/v1/admin/users/quan.tri/disable", admin).status_code == 409
    missing = call(gateway, "POST", "/v1/admin/users/nobody/disable", admin)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "user_id"
    assert agencies(gateway, admin).status_code == 200


def test_a_token_for_a_user_not_in_the_users_table_is_refused(gateway, platform):
    # Signed with the deployment's own key, so only the users table can refuse it.
    ghost = Client(platform).token("admin", PROVINCE, user="ghost")
    assert_unauthenticated(agencies(gateway, ghost), "does not exist")
    real = Client(platform).token("admin", PROVINCE, user="quan.tri")
    assert agencies(gateway, real).status_code == 200


def test_after_a_password_change_old_tokens_and_the_old_password_stop_working(gateway):
    new = "một mật khẩu mới hẳn 2027"
    old_token = token_of(gateway, "quan.tri")

    wrong = call(gateway, "POST", "/v1/auth/password", old_token,
                 {"old_password": "not the password", "new_password": new})
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "old_password"
    short = call(gateway, "POST", "/v1/auth/password", old_token,
                 {"old_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 400 and short.json()["error"]["field"] == "new_password"
    assert agencies(gateway, old_token).status_code == 200  # refusals changed nothing

    changed = call(gateway, "POST", "/v1/auth/password", old_token,
                   {"old_password": PASSWORD, "new_password": new})
    assert changed.status_code == 200, changed.text

    assert_unauthenticated(agencies(gateway, old_token), "password changed")
    assert login(gateway, "quan.tri", PASSWORD).status_code == 401
    assert agencies(gateway, token_of(gateway, "quan.tri", new)).status_code == 200


# -- what the services believe -----------------------------------------------------------

@pytest.fixture
def services(run_container):
    for service in (DocsService, SigningService, RoutingService, AuditService):
        run_container(service)


def rpc_with(platform, service, method, credential, *args):
    """``service.method(*args)`` with exactly ``credential`` in the context data."""
    context = {"authorization": credential} if credential is not None else {}
    with ClusterRpcProxy({"AMQP_URI": platform.amqp_uri}, timeout=30,
                         context_data=context) as rpc:
        return getattr(getattr(rpc, service), method)(*args)


def refused(platform, service, method, credential, *args):
    with pytest.raises(Unauthenticated) as err:
        rpc_with(platform, service, method, credential, *args)
    return err.value.message


def test_every_service_believes_a_fresh_gateway_assertion_for_its_own_method(services, platform):
    """The control for the refusals below: the right assertion works everywhere."""
    for service, method in PROBES.items():
        assertion = auth.mint_assertion(platform.gateway_key, AUDITOR, service, method)
        assert rpc_with(platform, service, method, assertion) is not None
        # ... once: the same assertion replayed is refused.
        assert "already used" in refused(platform, service, method, assertion)


def test_an_assertion_signed_by_any_key_but_the_gateways_is_refused_everywhere(
        services, platform):
    platform.provision_event_keys()
    event_key = load_or_create_ed25519(f"{platform.event_keys_dir}/docs.key",
                                       platform.event_passphrases["docs"])
    for key in (event_key, Ed25519PrivateKey.generate()):
        for service, method in PROBES.items():
            forged = auth.mint_assertion(key, AUDITOR, service, method)
            assert "signature" in refused(platform, service, method, forged)


def test_an_assertion_for_one_service_is_refused_by_another(services, platform):
    for_docs = auth.mint_assertion(platform.gateway_key, AUDITOR, "docs", "state_summary")
    for service, method in PROBES.items():
        if service != "docs":
            assert "another service" in refused(platform, service, method, for_docs)


def test_an_assertion_for_one_method_is_refused_for_another(services, platform):
    client = Client(platform)
    clerk = client.token("clerk")
    document_id = client.register(clerk, make_pdf()).json()["document_id"]
    for_reading = client.assertion(clerk, "docs", "get_document")
    assert "docs.get_document" in refused(platform, "docs", "submit", for_reading, document_id,
                                          "leader@000.00.00.H41")
    with client.rpc(clerk) as rpc:  # nothing was submitted
        assert rpc.docs.get_document(document_id)["state"] == "draft"


def test_an_expired_assertion_is_refused(services, platform):
    for service, method in PROBES.items():
        stale = auth.mint_assertion(platform.gateway_key, AUDITOR, service, method,
                                    now=time.time() - auth.ASSERTION_TTL - auth.LEEWAY - 1)
        assert "expired" in refused(platform, service, method, stale)


def test_a_users_bearer_token_sent_by_rpc_is_refused_by_every_service(services, platform):
    bearer = Client(platform).token("auditor", AUDITOR.agency, user=AUDITOR.user_id)
    for service, method in PROBES.items():
        refused(platform, service, method, bearer)
        refused(platform, service, method, None)
