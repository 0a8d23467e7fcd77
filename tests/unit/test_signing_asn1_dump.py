"""asn1crypto's false "indefinite length" on a DER length ending in 0x80 (asn1_dump).

The bug made RSA-3072 PAdES signatures take 5-20 s: a SignerInfo of 2,432
bytes (0x0980) was forced through a full, exponential re-encoding.
"""

from typing import ClassVar

import asn1crypto
import pytest
from asn1crypto import core

import services.signing  # noqa: F401  (installs the fix, as every signing import does)
from services.signing import asn1_dump


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
