"""Who administers what: an agency admin its own agency, the operator all."""

import pytest

from shared.envelope import Actor
from shared.errors import Forbidden
from shared.scope import may_grant, own_agency

PROVINCE, DISTRICT = "000.00.00.H41", "000.01.00.H41"
ADMIN = Actor("quan.tri", PROVINCE, "admin")
OPERATOR = Actor("van.hanh", PROVINCE, "operator")


def test_an_admin_acts_on_its_own_agency_only_and_the_refusal_names_the_field():
    assert own_agency(ADMIN, PROVINCE) is ADMIN
    with pytest.raises(Forbidden) as raised:
        own_agency(ADMIN, DISTRICT, field="serial")
    assert raised.value.field == "serial" and DISTRICT in raised.value.message
    assert own_agency(OPERATOR, DISTRICT) is OPERATOR


@pytest.mark.parametrize("role", ["auditor", "operator"])
def test_only_an_operator_creates_auditors_and_operators(role):
    with pytest.raises(Forbidden) as raised:
        may_grant(ADMIN, role)
    assert raised.value.field == "role"
    assert may_grant(OPERATOR, role) is OPERATOR
    for ordinary in ("clerk", "leader", "admin"):
        assert may_grant(ADMIN, ordinary) is ADMIN
