"""An agency administrator administers its own agency only; the platform
operator runs the directory, the axis connector and dead letters. Every
cross-agency attempt is refused by name, and the gateway records it."""

import uuid

import pytest

from shared.errors import Forbidden
from tests.support import db
from tests.support.client import DISTRICT_1, PROVINCE
from tests.support.edxml import package
from tests.support.gateway import Api, seed_file

pytestmark = pytest.mark.e2e

USERS = [
    {"user_id": "quan.tri", "agency": PROVINCE, "role": "admin", "full_name": "Vũ Thị Giang"},
    {"user_id": "van.hanh", "agency": PROVINCE, "role": "operator", "full_name": "Đinh Văn Hà"},
]
UNKNOWN = "999.99.99.H99"


@pytest.fixture
def api(stack, platform, tmp_path):
    """``api(method, user, path, body=None, **params)``, each user logged in once."""
    stack["gateway"].env["LIENTHONG_SEED_USERS"] = seed_file(tmp_path, USERS)
    stack.start()
    return Api(platform.gateway_url).request


def refused(answer, status, field):
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["field"] == field, answer.text


def new_user(agency, role="clerk"):
    return {"user_id": f"u-{uuid.uuid4().hex[:8]}", "agency": agency, "role": role,
            "full_name": "Người Dùng", "password": "đủ mười hai ký tự"}


def test_an_agency_admin_is_refused_anything_of_another_agency_and_it_is_recorded(
        api, platform, client):
    users = "/v1/admin/users"
    refused(api("POST", "quan.tri", users, new_user(DISTRICT_1)), 403, "agency")
    refused(api("POST", "quan.tri", users, new_user(PROVINCE, "auditor")), 403, "role")
    refused(api("POST", "quan.tri", users, new_user(PROVINCE, "operator")), 403, "role")
    refused(api("GET", "quan.tri", "/v1/admin/certificates", agency=DISTRICT_1), 403, "agency")
    refused(api("GET", "quan.tri", "/v1/admin/dead-letters/docs"), 403, "role")
    refused(api("POST", "quan.tri", "/v1/edxml/documents", {"package": package()}), 403,
            "role")
    denied = db.query(platform.pg_dsn, "gateway", "SELECT envelope->'data' FROM events"
                      " WHERE event_type = 'RequestDenied' ORDER BY position")
    assert [(d["user_id"], d["path"], d["reason"].split(":")[0]) for (d,) in denied] == [
        ("quan.tri", users, "forbidden")] * 3 + [
        ("quan.tri", "/v1/admin/certificates", "forbidden"),
        ("quan.tri", "/v1/admin/dead-letters/docs", "forbidden"),
        ("quan.tri", "/v1/edxml/documents", "forbidden")]
    assert "agency" in denied[0][0]["reason"] and DISTRICT_1 in denied[0][0]["reason"]

    # Within its own agency it administers; the users it lists are its agency's.
    mine = new_user(PROVINCE, "leader")
    assert api("POST", "quan.tri", users, mine).status_code == 201
    assert {u["agency"] for u in api("GET", "quan.tri", users).json()} == {PROVINCE}
    # The operator creates auditors and users anywhere in the directory.
    for agency, role in ((DISTRICT_1, "clerk"), (PROVINCE, "auditor")):
        created = api("POST", "van.hanh", users, new_user(agency, role))
        assert created.status_code == 201, created.text
    assert DISTRICT_1 in {u["agency"] for u in api("GET", "van.hanh", users).json()}

    # Certificates and the directory, by RPC: the same rules where the action happens.
    admin = client.token("admin", agency=PROVINCE)
    with client.rpc(admin) as rpc:
        with pytest.raises(Forbidden) as raised:
            rpc.signing.enroll(f"leader@{DISTRICT_1}", DISTRICT_1, "leader", "Trần Văn Huyện")
        assert raised.value.field == "agency"
        ours = rpc.signing.enroll(f"leader@{PROVINCE}", PROVINCE, "leader", "Nguyễn Văn An")
        assert {c["agency"] for c in rpc.signing.certificates()} == {PROVINCE}
        with pytest.raises(Forbidden) as raised:
            rpc.routing.change_directory([{"op": "rename", "code": DISTRICT_1,
                                           "name": "Huyện Mới", "on": "2026-01-01"}])
        assert raised.value.field == "role"
    with client.rpc(client.token("admin", agency=DISTRICT_1)) as rpc:
        with pytest.raises(Forbidden) as raised:
            rpc.signing.revoke_certificate(ours["serial"])
        assert raised.value.field == "serial"
    with client.rpc(admin) as rpc:  # still valid: the refusal changed nothing
        assert [c["revoked_at"] for c in rpc.signing.certificates()
                if c["serial"] == ours["serial"]] == [None]


def test_a_user_of_an_agency_not_in_the_directory_is_refused(api, platform):
    for user in ("quan.tri", "van.hanh"):
        refused(api("POST", user, "/v1/admin/users", new_user(UNKNOWN)), 404, "agency")
    assert db.query(platform.pg_dsn, "gateway",
                    "SELECT count(*) FROM users WHERE agency = %s", (UNKNOWN,)) == [(0,)]
