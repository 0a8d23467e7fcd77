"""Routing's directory browsing (queries.browse): a page under a parent or a
search, computed in routing, so the web's directory page never fetches the
whole national directory. Pure: the sample province, no servers."""

from datetime import date

import pytest

from services.routing import queries
from services.routing.sample_data import PROVINCE, PROVINCE_NAME, commune_code, district_code
from services.routing.sample_data import sample_province
from shared.errors import NotFound, ValidationFailed

ON = date(2024, 1, 1)


@pytest.fixture(scope="module")
def directory():
    return sample_province()


def codes(answer):
    return [a["code"] for a in answer["items"]]


def test_the_roots_then_a_parents_children_each_saying_if_it_has_children(directory):
    roots = queries.browse(directory, ON)
    assert codes(roots) == [PROVINCE] and roots["total"] == 1
    assert roots["items"][0]["has_children"] is True and roots["names"] == {}
    under = queries.browse(directory, ON, PROVINCE)
    assert under["total"] == 6  # three departments, three districts
    assert district_code(1) in codes(under) and under["names"] == {PROVINCE: PROVINCE_NAME}
    communes = queries.browse(directory, ON, district_code(1))
    assert codes(communes) == [commune_code(1, c) for c in range(1, 5)]
    assert not any(a["has_children"] for a in communes["items"])


def test_a_search_ignores_diacritics_and_case_and_stays_in_the_parents_subtree(directory):
    assert codes(queries.browse(directory, ON, q="dien hoa")) == [commune_code(1, 1)]
    assert codes(queries.browse(directory, ON, q="DIỄN HOA")) == [commune_code(1, 1)]
    assert codes(queries.browse(directory, ON, q="001.02")) == [commune_code(2, 1)]
    # "thành" is in Yên Thành's communes; under Diễn Châu there are none.
    assert queries.browse(directory, ON, q="thanh")["total"] == 5
    assert queries.browse(directory, ON, district_code(1), q="thanh")["total"] == 0


def test_pages_cut_the_listing_and_say_the_total(directory):
    first = queries.browse(directory, ON, PROVINCE, page=1, size=4)
    second = queries.browse(directory, ON, PROVINCE, page="2", size=4)
    assert (first["total"], len(first["items"]), len(second["items"])) == (6, 4, 2)
    assert not set(codes(first)) & set(codes(second))
    assert queries.browse(directory, ON, PROVINCE, page=3, size=4)["items"] == []


@pytest.mark.parametrize("kwargs, field, error", [
    ({"page": "x"}, "page", ValidationFailed), ({"page": 0}, "page", ValidationFailed),
    ({"size": 101}, "size", ValidationFailed), ({"q": 5}, "q", ValidationFailed),
    ({"parent": "000.09.00.H41"}, "parent", NotFound),
    ({"parent": "not a code"}, "parent", ValidationFailed),
])
def test_bad_arguments_are_refused_naming_the_field(directory, kwargs, field, error):
    with pytest.raises(error) as err:
        queries.browse(directory, ON, **kwargs)
    assert err.value.field == field and err.value.message.startswith(f"{field}:")
