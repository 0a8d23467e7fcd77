"""shared.text: what a JSON body may not carry into the services."""

import pytest

from shared.errors import ValidationFailed
from shared.text import check_storable


def test_ordinary_vietnamese_text_passes_unchanged():
    body = {"subject": "Chỉ thị về phòng, chống bão", "recipients": ["000.01.00.H41"]}
    assert check_storable(body) is body


@pytest.mark.parametrize("body, field", [
    ({"user_id": "a\x00b"}, "user_id"),
    ({"signer": {"full_name": "An\ud800"}}, "signer.full_name"),
    ({"files": [{"name": "ok"}, {"name": "x\x00"}]}, "files.1.name"),
    ({"k\x00": "v"}, "k\x00"),
])
def test_nul_and_lone_surrogates_are_refused_naming_the_field(body, field):
    with pytest.raises(ValidationFailed) as err:
        check_storable(body)
    assert err.value.field == field
