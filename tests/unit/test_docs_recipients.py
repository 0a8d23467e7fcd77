"""docs' copy of the agency directory: recipients checked at registration
(``domain.check_recipients``: an unknown, retired or not yet effective code is
refused, named by its index, before anything is stored) and agencies named,
not coded, in the registers (``domain.agency_name``)."""

from datetime import date

import pytest

from services.docs import domain
from services.routing.sample_data import apply_reform_2025, sample_province
from shared.errors import ServiceUnavailable, ValidationFailed

BEFORE, AFTER = date(2025, 6, 30), date(2026, 12, 5)
PROVINCE, DISTRICT, COMMUNE = "000.00.00.H41", "000.01.00.H41", "001.01.00.H41"
MERGED = "001.00.00.H41"  # Diễn Hoa and Diễn Phong, merged on 1 July 2025


@pytest.fixture(scope="module")
def reformed():
    return apply_reform_2025(sample_province())


def _refused(recipients, directory, on):
    with pytest.raises(ValidationFailed) as err:
        domain.check_recipients(recipients, directory, on)
    return err.value


def test_effective_agencies_are_accepted(reformed):
    domain.check_recipients([PROVINCE, MERGED], reformed, AFTER)
    domain.check_recipients([DISTRICT, COMMUNE], reformed, BEFORE)


def test_an_unknown_code_is_named_by_its_index(reformed):
    err = _refused([PROVINCE, MERGED, "000.00.99.H99"], reformed, AFTER)
    assert err.field == "recipients.2"
    assert str(err) == "recipients.2: agency 000.00.99.H99 is not in the directory"


def test_a_district_abolished_by_the_reform_is_refused(reformed):
    err = _refused([DISTRICT], reformed, AFTER)
    assert err.field == "recipients.0"
    assert "dissolved on 2025-07-01 with no successor" in str(err)


def test_a_merged_commune_is_refused_naming_its_successor(reformed):
    err = _refused([COMMUNE], reformed, AFTER)
    assert f"ceased on 2025-07-01; address its successor {MERGED}" in str(err)


def test_an_agency_not_yet_effective_is_refused(reformed):
    err = _refused([MERGED], reformed, BEFORE)
    assert str(err) == f"recipients.0: agency {MERGED} is not effective until 2025-07-01"


def test_every_bad_recipient_is_named(reformed):
    err = _refused([DISTRICT, PROVINCE, "000.00.99.H99"], reformed, AFTER)
    assert err.field == "recipients.0"
    assert sorted(err.errors["recipients"]) == [0, 2]
    assert "recipients.2: agency 000.00.99.H99" in str(err)


def test_without_the_directory_registration_waits_for_it():
    with pytest.raises(ServiceUnavailable) as err:
        domain.check_recipients([PROVINCE], None, AFTER)
    assert err.value.field == "recipients"


# -- names where Appendix IV has agencies, not codes -----------------------------------

def test_an_agency_is_named_as_it_was_on_the_day():
    reformed = apply_reform_2025(sample_province())
    reformed.rename(PROVINCE, "UBND tỉnh Nghệ An (mới)", "2026-01-01")
    assert domain.agency_name(reformed, PROVINCE, date(2025, 12, 31)) == \
        "UBND tỉnh Nghệ An (mẫu)"
    assert domain.agency_name(reformed, PROVINCE, AFTER) == "UBND tỉnh Nghệ An (mới)"
    # Retired since: its last name; unknown, or no directory yet: the code.
    assert domain.agency_name(reformed, DISTRICT, AFTER) == "UBND huyện Diễn Châu"
    assert domain.agency_name(reformed, "000.00.99.H99", AFTER) == "000.00.99.H99"
    assert domain.agency_name(None, PROVINCE, AFTER) == PROVINCE


def test_the_registers_print_agency_names(reformed):
    from datetime import datetime, timezone

    from services.docs import registers

    issued = datetime(2025, 6, 2, 3, tzinfo=timezone.utc)
    document = {"number_notation": "07/CT-UBND", "issued_at": issued, "document_type": "CT",
                "subject": "Chỉ thị", "state": "sent", "recipients": [DISTRICT, COMMUNE],
                "issuing_agency": PROVINCE, "signer": {}, "sent_at": issued}
    arrival = {"arrival_number": 3, "arrived_at": issued, "state": "accepted", "reason": None}

    def name_of(code, on):
        return domain.agency_name(reformed, code, on)
    assert registers.outgoing_row(document, name_of)["recipients"] == \
        "UBND huyện Diễn Châu, UBND xã Diễn Hoa"
    assert registers.incoming_row(arrival, document, name_of)["author"] == \
        "UBND tỉnh Nghệ An (mẫu)"
    assert registers.follow_up_row(arrival, document, name_of)["author_number_date"] == \
        "UBND tỉnh Nghệ An (mẫu), 07/CT-UBND, 02/06/2025"
