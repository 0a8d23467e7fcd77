"""Recipients checked at registration against docs' copy of the directory
(``domain.check_recipients``): an unknown, retired or not yet effective code is
refused, named by its index, before anything is stored."""

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
