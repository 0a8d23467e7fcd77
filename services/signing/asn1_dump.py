"""Two fixes to asn1crypto 1.5.1's ``dump()``: RSA-3072 PAdES signatures took 5-20 s,
and every CMS we built (signatures, time stamps) cost 5-10 times what it should.

asn1crypto marks a structure built in Python (not parsed) as "mutated" for
good, and re-encodes a mutated value's children each time its ``contents``
is read. Its ``Asn1Value.dump`` reads ``self.contents`` two times (three
with an explicit tag) when the header is unknown, and the re-encoding
clears the header, so each mutated level encodes everything under it two or
three times: 2^depth. A CMS's signed attributes (4 attributes, the signing
certificate's issuer name and serial in them) took about 3,300 dumps where
about 100 do; the dev TSA spent 8 ms of CPU on a token, pyHanko 13 ms on a
signature's CMS.

The RSA-3072 case on top of that: every ``dump()`` (``Asn1Value``,
``Choice``, ``Primitive``, ``Sequence``, ``SequenceOf``) starts with::

    if self._header is not None and self._header[-1:] == b'\x80':
        force = True  # "the length is indefinite"

BER's indefinite length is the single length octet 0x80; a long-form
definite length whose last octet is 0x80 (``30 82 09 80``: 2,432 bytes) is
not one. With an RSA-3072 key our CMS ``SignerInfo`` (a 384-byte signature,
the certificate references, the time-stamp token) is about 2,430 bytes, and
in most signatures exactly 0x0980. pyHanko dumps it more than once while
assembling the ``SignedData``; the second dump saw ``...80`` and forced a
DER re-encoding of all of it, the time-stamp token included, through the
2^depth path above: ~150,000 dumps of the token's one ``ESSCertIDv2``, 5-20 s
of CPU per signature. ECDSA's SignerInfo (about 2,100 bytes) never hit the
value; RSA-3072 landed on it by its size. Upstream: wbond/asn1crypto issue
249 (open); no release fixes either.

:func:`install` replaces those five methods with copies of 1.5.1's with two
changes: :func:`indefinite` reads the header's last length field the way
X.690 8.1.3 lays it out (it only ever turns a forced re-encoding *off*, for
a definite length; a real indefinite length from BER input is re-encoded as
before), and ``Asn1Value.dump`` builds the header from the contents it has
just computed instead of computing them again (the same bytes). asn1crypto
is pinned to 1.5.1 in pyproject.toml; any other version is left alone, and
``tests/unit/test_signing_asn1_dump.py`` then fails until this is looked at
again. :func:`originals` puts 1.5.1's methods back for a while (tests compare
the bytes both give).
"""

import threading
from contextlib import contextmanager

import asn1crypto
from asn1crypto import core
from asn1crypto._errors import unwrap

FIXED_VERSION = "1.5.1"
_lock = threading.Lock()
_installed = False


def indefinite(header):
    """True when ``header`` (tag and length octets, explicit tags first) ends in
    BER's indefinite length, the single length octet 0x80.

    A long-form definite length that happens to end in 0x80 is not one. A
    header this cannot walk is read as asn1crypto reads it (its last byte).
    """
    if header is None or header[-1:] != b"\x80":
        return False
    pos, size, last = 0, len(header), None
    while pos < size:
        first = header[pos]
        pos += 1
        if first & 0x1F == 0x1F:  # high tag number: base-128 octets, the last < 0x80
            while pos < size and header[pos] & 0x80:
                pos += 1
            pos += 1
        if pos >= size:
            return True
        length = header[pos]
        pos += 1
        last = length == 0x80
        if length > 0x80:
            pos += length & 0x7F
    return last if pos == size else True


# -- asn1crypto 1.5.1's dump() methods, with indefinite(self._header) as the only change --

def _asn1value_dump(self, force=False):
    contents = self.contents

    # If the length is indefinite, force the re-encoding
    if indefinite(self._header):
        force = True

    if self._header is None or force:
        if isinstance(self, core.Constructable) and self._indefinite:
            self.method = 0

        # ``contents``, not ``self.contents`` again: see the module's docstring
        header = core._dump_header(self.class_, self.method, self.tag, contents)

        if self.explicit is not None:
            for class_, tag in self.explicit:
                header = core._dump_header(class_, 1, tag, header + contents) + header

        self._header = header
        self._trailer = b''

    return self._header + contents + self._trailer


def _choice_dump(self, force=False):
    # If the length is indefinite, force the re-encoding
    if indefinite(self._header):
        force = True

    self._contents = self.chosen.dump(force=force)
    if self._header is None or force:
        self._header = b''
        if self.explicit is not None:
            for class_, tag in self.explicit:
                self._header = core._dump_header(
                    class_, 1, tag, self._header + self._contents) + self._header
    return self._header + self._contents


def _primitive_dump(self, force=False):
    # If the length is indefinite, force the re-encoding
    if indefinite(self._header):
        force = True

    if force:
        native = self.native
        self.contents = None
        self.set(native)

    return core.Asn1Value.dump(self)


def _sequence_dump(self, force=False):
    # If the length is indefinite, force the re-encoding
    if indefinite(self._header):
        force = True

    # We can't force encoding if we don't have a spec
    if force and self._fields == [] and self.__class__ is core.Sequence:
        force = False

    if force:
        self._set_contents(force=force)

    if self._fields and self.children is not None:
        for index, (field_name, _, params) in enumerate(self._fields):
            if self.children[index] is not core.VOID:
                continue
            if 'default' in params or 'optional' in params:
                continue
            raise ValueError(unwrap(
                '''
                Field "%s" is missing from structure
                ''',
                field_name
            ))

    return core.Asn1Value.dump(self)


def _sequenceof_dump(self, force=False):
    # If the length is indefinite, force the re-encoding
    if indefinite(self._header):
        force = True

    if force:
        self._set_contents(force=force)

    return core.Asn1Value.dump(self)


_REPLACEMENTS = (
    (core.Asn1Value, _asn1value_dump),
    (core.Choice, _choice_dump),
    (core.Primitive, _primitive_dump),
    (core.Sequence, _sequence_dump),
    (core.SequenceOf, _sequenceof_dump),
)


_ORIGINALS = tuple((cls, cls.dump) for cls, _ in _REPLACEMENTS)


@contextmanager
def originals():
    """asn1crypto's own ``dump`` methods while inside (tests only: not thread-safe)."""
    current = tuple((cls, cls.dump) for cls, _ in _ORIGINALS)
    for cls, dump in _ORIGINALS:
        cls.dump = dump
    try:
        yield
    finally:
        for cls, dump in current:
            cls.dump = dump


def install():
    """Put the fixed ``dump`` methods in place (once; only on asn1crypto 1.5.1).

    Returns whether they are in place.
    """
    global _installed
    with _lock:
        if not _installed and asn1crypto.__version__ == FIXED_VERSION:
            for cls, dump in _REPLACEMENTS:
                dump.__doc__ = cls.dump.__doc__
                cls.dump = dump
            _installed = True
        return _installed
