"""RFC 3161 time stamps on checkpoints: a trusted time beside the log's own.

What is stamped: the UTF-8 bytes of the checkpoint note exactly as the log
signed it, i.e. the checkpoint text, the blank line and the log's own
signature line, ending in its newline (the ``note`` column of ``checkpoints``
and the ``.note`` object in WORM storage). Witness cosignatures, added later,
are not stamped. The request asks for SHA-256 of those bytes, a nonce and the
TSA's certificates (``certReq``), so ``openssl ts -verify -data NOTE
-token_in -in TOKEN -CAfile ROOT`` checks a token with no code of ours.

The TSA is reached as RFC 3161 specifies for HTTP: POST a DER TimeStampReq
as ``application/timestamp-query``, read a DER TimeStampResp. Nothing here
imports the signing service: any TSA will do, ours or a national one.

:func:`check_token` (pure) is what the offline verifier uses: the imprint,
the TSA's CMS signature, its timeStamping certificate and the chain the
bundle carries. Trusting the chain's root is the auditor's decision.
"""

import base64
import hashlib
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import ClassVar

from asn1crypto import algos, cms, core, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}

STAMPED = "stamped"
UNSTAMPED = "unstamped"
# What the auditor reads about a checkpoint's time stamp (Vietnamese first).
LABELS = {
    STAMPED: "Đã đóng dấu thời gian (RFC 3161) / time-stamped",
    UNSTAMPED: ("CHƯA đóng dấu thời gian: TSA không phản hồi hoặc chưa được cấu hình khi ký;"
                " điểm kiểm tra sau sẽ được đóng dấu / NOT time-stamped: the TSA was down or"
                " not configured; a later checkpoint will be"),
}


class TimestampError(ValueError):
    """A time stamp could not be obtained, or a token does not hold up."""


class _Response(core.Sequence):
    """A ``TimeStampResp`` whose token may be absent (a refusal has none)."""

    _fields: ClassVar = [("status", tsp.PKIStatusInfo),
                         ("time_stamp_token", cms.ContentInfo, {"optional": True})]


@dataclass
class TokenInfo:
    gen_time: str  # ISO 8601, UTC
    serial: int
    policy: str
    tsa_subject: str
    certificates: list  # DER, as the token carries them


# ---------------------------------------------------------------- the protocol (pure)

def request_for(data: bytes, nonce: int) -> bytes:
    """A DER TimeStampReq for SHA-256(data), with ``nonce`` and certReq."""
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                            "hashed_message": hashlib.sha256(data).digest()},
        "nonce": nonce,
        "cert_req": True,
    }).dump()


def token_from_response(response: bytes, data: bytes, nonce: int) -> bytes:
    """The DER TimeStampToken in a TSA's reply to :func:`request_for`.

    Raises TimestampError unless the status is granted, the token stamps
    SHA-256(data) and carries our nonce.
    """
    try:
        reply = _Response.load(response)
        status = reply["status"]["status"].native
    except (ValueError, TypeError, KeyError) as err:
        raise TimestampError(f"the TSA's reply is not a TimeStampResp ({err})") from None
    if status not in ("granted", "granted_with_mods"):
        text = reply["status"]["status_string"].native or []
        raise TimestampError(f"the TSA refused: {status} {' '.join(text)}".strip())
    token = reply["time_stamp_token"]
    info = _tst_info(token)
    _check_imprint(info, data)
    if info["nonce"].native != nonce:
        raise TimestampError("the TSA's token does not carry our nonce")
    return token.dump()


def _tst_info(token):
    try:
        signed = token["content"]
        if token["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
        content = signed["encap_content_info"]
        if content["content_type"].native != "tst_info":
            raise ValueError("not a TSTInfo")
        return content["content"].parsed
    except (ValueError, TypeError, KeyError) as err:
        raise TimestampError(f"not an RFC 3161 time-stamp token ({err})") from None


def _check_imprint(info, data):
    imprint = info["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        raise TimestampError(f"the token uses hash {algorithm}, not SHA-2")
    digest = hashlib.new(algorithm, data).digest()
    if imprint["hashed_message"].native != digest:
        raise TimestampError("the token stamps other bytes than these (its imprint differs)")


def read_token(token: bytes) -> TokenInfo:
    """What a DER token says; raises TimestampError if it is not one."""
    try:
        content = cms.ContentInfo.load(token)
        info = _tst_info(content)
        certificates = [c.chosen.dump() for c in content["content"]["certificates"] or ()]
        return TokenInfo(gen_time=info["gen_time"].native.isoformat().replace("+00:00", "Z"),
                         serial=info["serial_number"].native,
                         policy=info["policy"].native,
                         tsa_subject=_tsa_name(content, info),
                         certificates=certificates)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise TimestampError(f"not an RFC 3161 time-stamp token ({err})") from None


def _tsa_name(content, info):
    if info["tsa"].native:
        return info["tsa"].chosen.human_friendly
    sid = content["content"]["signer_infos"][0]["sid"].chosen
    return sid["issuer"].human_friendly if "issuer" in sid else "?"


def chain_pem(token: bytes) -> list:
    """The token's certificates as PEM strings (the TSA's and its issuers'),
    self-signed roots last (DER sorts a SET OF by encoding, not by chain)."""
    certs = [x509.load_der_x509_certificate(der) for der in read_token(token).certificates]
    certs.sort(key=lambda c: c.issuer == c.subject)
    return [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs]


def check_token(token: bytes, data: bytes, chain_pems) -> TokenInfo:
    """Check a token offline against ``data`` and the PEM ``chain_pems``.

    Raises TimestampError unless: it stamps SHA-256(data) (or SHA-384/512);
    its CMS signature verifies with the signer's certificate (found in the
    token or the chain), whose extended key usage is timeStamping (critical);
    the signed message digest matches the TSTInfo; and that certificate
    chains, each one signed by the next (the token's certificates may serve
    as intermediates), to a self-signed certificate of ``chain_pems``: the
    roots the caller trusts (an evidence bundle's own chain proves only that
    the token is whole; its root must be compared out of band).
    """
    try:
        return _check_token(token, data, chain_pems)
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as err:  # asn1crypto parses lazily
        raise TimestampError(f"the token is malformed ({err})") from None


def _check_token(token, data, chain_pems):
    info = read_token(token)
    content = cms.ContentInfo.load(token)
    signed = content["content"]
    _check_imprint(_tst_info(content), data)
    try:
        anchors = [x509.load_pem_x509_certificate(p.encode("ascii")) for p in chain_pems]
        pool = anchors + [x509.load_der_x509_certificate(der) for der in info.certificates]
    except (ValueError, TypeError, AttributeError) as err:
        raise TimestampError(f"a certificate of the TSA chain is unreadable ({err})") from None
    if len(signed["signer_infos"]) != 1:
        raise TimestampError("the token must have exactly one signer")
    signer = signed["signer_infos"][0]
    tsa_cert = _signer_certificate(signer, pool)
    _check_eku(tsa_cert)
    _check_signature(signer, tsa_cert, signed["encap_content_info"]["content"].contents)
    _check_chain(tsa_cert, pool, {a.fingerprint(hashes.SHA256()) for a in anchors})
    return info


def _signer_certificate(signer, pool):
    sid = signer["sid"]
    if sid.name != "issuer_and_serial_number":
        raise TimestampError("the token's signer is not named by issuer and serial number")
    serial = sid.chosen["serial_number"].native
    issuer = sid.chosen["issuer"].dump()
    for cert in pool:
        if cert.serial_number == serial and cert.issuer.public_bytes() == issuer:
            return cert
    raise TimestampError("the TSA's certificate is neither in the token nor in the chain")


def _check_eku(cert):
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise TimestampError("the TSA's certificate has no extended key usage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TimestampError("the TSA's certificate is not for time stamping only (RFC 3161)")


def _check_signature(signer, cert, tst_info):
    attrs = signer["signed_attrs"]
    digest_name = signer["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise TimestampError(f"the token's digest {digest_name} is not SHA-2")
    wanted = hashlib.new(digest_name, tst_info).digest()
    digests = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    if digests != [wanted]:
        raise TimestampError("the token's signed digest does not match its TSTInfo")
    message = attrs.untag().dump()  # signed as a SET, not the [0] it is stored as
    signature = signer["signature"].native
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(_HASHES[digest_name]()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), _HASHES[digest_name]())
        else:
            raise TimestampError(f"unsupported TSA key {type(key).__name__}")
    except InvalidSignature:
        raise TimestampError("the TSA's signature on the token does NOT verify") from None


def _check_chain(cert, pool, anchors):
    seen = set()
    while True:
        if cert.issuer == cert.subject:
            try:
                cert.verify_directly_issued_by(cert)
            except (ValueError, TypeError, InvalidSignature):
                raise TimestampError("the TSA chain's root is not validly self-signed") from None
            if cert.fingerprint(hashes.SHA256()) not in anchors:
                raise TimestampError(f"the TSA chain ends at {cert.subject.rfc4514_string()},"
                                     " not at a root given to check it with")
            return
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint in seen:
            raise TimestampError("the TSA chain loops")
        seen.add(fingerprint)
        for issuer in pool:
            if issuer.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                continue
            cert = issuer
            break
        else:
            raise TimestampError(f"no issuer of {cert.subject.rfc4514_string()} in the TSA chain")


# ---------------------------------------------------------------- the adapter (HTTP)

class HttpTimeStamper:
    """An RFC 3161 TSA over HTTP. ``stamp`` raises TimestampError when the TSA
    is down, slow (``timeout`` seconds) or answers wrongly."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url, self.timeout = url, timeout

    def stamp(self, data: bytes) -> bytes:
        nonce = secrets.randbits(63)
        request = urllib.request.Request(self.url, data=request_for(data, nonce), method="POST",
                                         headers={"Content-Type": QUERY_TYPE,
                                                  "Accept": REPLY_TYPE})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                body = reply.read(1 << 20)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise TimestampError(f"the TSA at {self.url} did not answer ({err})") from None
        return token_from_response(body, data, nonce)


def view(signed_note: str, token) -> dict:
    """A checkpoint's time stamp as the auditor and the evidence bundle see it:
    the status (and its Vietnamese label); when stamped, the stamped note, the
    token (base64 DER) and the TSA's chain (PEM) to check it with openssl."""
    if token is None:
        return {"status": UNSTAMPED, "label": LABELS[UNSTAMPED]}
    token = bytes(token)
    info = read_token(token)
    return {"status": STAMPED, "label": LABELS[STAMPED], "gen_time": info.gen_time,
            "tsa": info.tsa_subject, "signed_note": signed_note,
            "token": base64.b64encode(token).decode("ascii"), "tsa_chain": chain_pem(token)}
