"""A test CA and a time-stamping authority serving on a free port, for the unit
tests of signing that need both (import the fixtures into the test module)."""

from datetime import datetime, timedelta, timezone

import pytest

from services.signing import pki, tsa

NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def ca():
    return pki.create_root_ca("CA (test)", NOW - timedelta(days=1), NOW + timedelta(days=3650))


@pytest.fixture(scope="module")
def tsa_url(ca):
    with tsa.TsaServer(tsa.TimeStampAuthority(tsa.issue_tsa_cert(ca))) as server:
        yield server.url
