"""asn1crypto 1.5.1's dump() as services.signing.asn1_dump fixes it.

Its false "indefinite length" on a DER length ending in 0x80 made RSA-3072
PAdES signatures take 5-20 s (a SignerInfo of 2,432 bytes, 0x0980, forced
through a full re-encoding), and encoding each mutated level's contents two
or three times made every CMS cost 2^depth encodings.
"""

from typing import ClassVar

from datetime import UTC, datetime, timedelta

import asn1crypto
import pytest
from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute

from services.signing import asn1_dump, pki  # importing services.signing installs the fix


class _Box(core.Sequence):
    _fields: ClassVar = [("data", core.OctetString)]


@pytest.mark.parametrize("header, expected", [
    (None, False),
    (b"\x30\x82\x09\x7c", False),                 # ends in something else
    (b"\x30\x80", True),                          # BER indefinite
    (b"\x30\x81\x80", False),                     # 128 bytes, long form
    (b"\x30\x82\x09\x80", False),                 # 2,432 bytes: the RSA-3072 SignerInfo
    (b"\x04\x82\x01\x80", False),                 # 384 bytes: an RSA-3072 signature
    (b"\xa0\x82\x09\x84\x30\x82\x09\x80", False),  # explicit tag, then the value's own
    (b"\xa0\x80\x30\x80", True),                  # both indefinite
    (b"\x1f\x81\x00\x80", True),                  # a high tag number, indefinite
    (b"\x1f\x81\x00\x81\x80", False),             # the same tag, 128 bytes
])
def test_only_the_single_length_octet_0x80_is_indefinite(header, expected):
    assert asn1_dump.indefinite(header) is expected


def test_installed_on_the_pinned_asn1crypto():
    # Another asn1crypto: look again at asn1_dump (is the bug fixed? are the copies right?).
    assert asn1crypto.__version__ == asn1_dump.FIXED_VERSION
    assert asn1_dump.install()
    assert core.Sequence.dump is asn1_dump._sequence_dump


def test_a_definite_length_ending_in_0x80_is_not_re_encoded(monkeypatch):
    box = _Box({"data": core.OctetString(b"x" * 2428)})  # built in Python: "mutated"
    first = box.dump()
    assert first[:4] == bytes.fromhex("30820980")
    forced = []
    original = _Box._set_contents
    monkeypatch.setattr(_Box, "_set_contents",
                        lambda self, force=False: (forced.append(force), original(self, force)))
    assert box.dump() == first
    assert True not in forced  # asn1crypto 1.5.1 alone: forced=[True, False, False]


def test_a_real_indefinite_length_is_still_re_encoded_as_der():
    ber = bytes.fromhex("3080") + core.OctetString(b"abc").dump() + b"\x00\x00"
    box = _Box.load(ber)
    assert box["data"].native == b"abc"
    assert box.dump() == bytes.fromhex("30050403616263")


def _signed_attributes(certificate):
    """A CMS's signed attributes as pyHanko and our TSA build them: built in Python."""
    return cms.CMSAttributes([
        simple_cms_attribute("content_type", "data"),
        simple_cms_attribute("signing_time", cms.Time(
            {"utc_time": core.UTCTime(datetime(2026, 12, 3, 8, 0, tzinfo=UTC))})),
        simple_cms_attribute("message_digest", bytes(range(32))),
        simple_cms_attribute("signing_certificate_v2",
                             as_signing_certificate_v2(certificate, "sha256")),
    ])


def test_the_same_bytes_as_asn1crypto_with_far_fewer_encodings(monkeypatch):
    certificate = _asn1_certificate()
    calls = []
    original = core.Sequence._set_contents
    monkeypatch.setattr(core.Sequence, "_set_contents",
                        lambda self, force=False: (calls.append(1), original(self, force))[1])
    with asn1_dump.originals():
        theirs = _signed_attributes(certificate).dump()
    their_calls, calls[:] = len(calls), []
    ours = _signed_attributes(certificate).dump()
    assert ours == theirs
    # each mutated level encoded its children 2-3 times over: 2^depth
    assert len(calls) * 10 < their_calls, (len(calls), their_calls)


def _asn1_certificate():
    now = datetime.now(UTC)
    ca = pki.create_root_ca("CA 000.00.00.H41", now - timedelta(days=1), now + timedelta(days=9))
    leader = pki.issue_personal_cert(ca, "Nguyễn Văn An", "000.00.00.H41", "leader")
    return asn1_x509.Certificate.load(
        leader.certificate.public_bytes(serialization.Encoding.DER))
