"""A local RFC 3161 time-stamping authority, for development and tests, its key
in a file or in a token (``pki.TokenKey``, an HSM).

Production points the signing functions at a real TSA's URL; here
:class:`TimeStampAuthority` answers DER ``TimeStampReq`` with DER
``TimeStampResp``, and :class:`TsaServer` serves it over HTTP
(``application/timestamp-query`` in, ``application/timestamp-reply`` out)
so the signing code reaches both the same way: by URL.

The TSA's certificate comes from :mod:`services.signing.pki` with the
critical extended key usage id-kp-timeStamping that RFC 3161 requires.
"""

import hashlib
import secrets
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute

from services.signing.pki import Identity, TokenKey, generate_key, key_usage

# Policy of this development TSA: an OID under 2.999, the arc kept for examples.
DEV_POLICY = "2.999.3161.1"
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def issue_tsa_cert(ca, name="Liên thông TSA (dev)", *, valid_from=None, valid_to=None,
                   key_algorithm="ec-p256"):
    """A time-stamping certificate: EKU timeStamping (critical), new key."""
    key = generate_key(key_algorithm)
    certificate = certify_tsa_key(ca, key.public_key(), name, valid_from=valid_from,
                                  valid_to=valid_to)
    return Identity(certificate, key, (ca.certificate,))


def certify_tsa_key(ca, public_key, name="Liên thông TSA (dev)", *, valid_from=None,
                    valid_to=None):
    """A time-stamping certificate for a key held elsewhere (a token: only its public
    half is given)."""
    valid_from = valid_from or datetime.now(UTC) - timedelta(minutes=5)
    valid_to = valid_to or valid_from + timedelta(days=3650)
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return ca.issue(subject, public_key, valid_from, valid_to, [
        (key_usage(signing=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
    ])


class TimeStampAuthority:
    """Answers time-stamp requests, signing with ``identity``.

    ``clock`` (a function returning an aware datetime) lets tests pretend
    another time; it defaults to the real UTC time.
    """

    def __init__(self, identity, clock=None):
        self._identity = identity
        self._clock = clock or (lambda: datetime.now(UTC))
        der = serialization.Encoding.DER
        self._cert = asn1_x509.Certificate.load(identity.certificate.public_bytes(der))
        self._chain = [asn1_x509.Certificate.load(c.public_bytes(der)) for c in identity.chain]

    def __repr__(self):
        return f"TimeStampAuthority({self._cert.subject.human_friendly!r})"

    def respond(self, request_der):
        """The DER ``TimeStampResp`` to a DER ``TimeStampReq``; never raises on bad input."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_data_format", "not a DER TimeStampReq")
        if algorithm not in _DIGESTS:
            return _rejection("bad_alg", f"hash algorithm {algorithm} is not accepted")
        if len(digest) != _DIGESTS[algorithm]().digest_size:
            return _rejection("bad_data_format", "hashed message has the wrong length")
        now = self._clock().astimezone(UTC).replace(microsecond=0)
        info = {
            "version": "v1",
            "policy": DEV_POLICY,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(63),
            "gen_time": now,
            "tsa": asn1_x509.GeneralName(name="directory_name", value=self._cert.subject),
        }
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"]
        token = self._sign(tsp.TSTInfo(info).dump(), now,
                           include_certs=bool(request["cert_req"].native))
        return tsp.TimeStampResp({
            "status": tsp.PKIStatusInfo({"status": "granted"}),
            "time_stamp_token": token,
        }).dump()

    def _sign(self, tst_info, now, include_certs):
        attrs = cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(now)})),
            simple_cms_attribute("message_digest", hashlib.sha256(tst_info).digest()),
            simple_cms_attribute("signing_certificate_v2",
                                 as_signing_certificate_v2(self._cert, "sha256")),
        ])
        key = self._identity.private_key
        if isinstance(key, TokenKey):  # the key stays in the token (an HSM)
            signature = key.sign(attrs.dump())
            mechanism = "sha256_ecdsa"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
            mechanism = "sha256_ecdsa"
        elif isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
            mechanism = "sha256_rsa"
        else:
            raise TypeError(f"unsupported TSA key type {type(key).__name__}")
        sha256 = algos.DigestAlgorithm({"algorithm": "sha256"})
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
                "issuer": self._cert.issuer, "serial_number": self._cert.serial_number})}),
            "digest_algorithm": sha256,
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": mechanism}),
            "signature": signature,
        })
        signed_data = {
            "version": "v3",
            "digest_algorithms": [sha256],
            "encap_content_info": {"content_type": "tst_info",
                                   "content": cms.ParsableOctetString(tst_info)},
            "signer_infos": [signer_info],
        }
        if include_certs:
            signed_data["certificates"] = [self._cert, *self._chain]
        return cms.ContentInfo({"content_type": "signed_data",
                                "content": cms.SignedData(signed_data)})


class _RejectionResp(core.Sequence):
    """A ``TimeStampResp`` without a token (asn1crypto makes the token mandatory)."""

    _fields: ClassVar = [("status", tsp.PKIStatusInfo)]


def _rejection(failure, text):
    return _RejectionResp({"status": tsp.PKIStatusInfo({
        "status": "rejection",
        "status_string": [text],
        "fail_info": tsp.PKIFailureInfo({failure}),
    })}).dump()


class TsaServer:
    """``authority`` over HTTP on 127.0.0.1, in a background thread."""

    def __init__(self, authority, host="127.0.0.1"):
        self.authority = authority
        self.host = host
        self._httpd = None
        self._thread = None

    def start(self, port=0):
        """Listen (``port=0``: any free port) and return the TSA URL."""
        authority = self.authority

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                if self.headers.get("Content-Type", "").split(";")[0].strip() != QUERY_TYPE:
                    self.send_error(415, f"expected {QUERY_TYPE}")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = authority.respond(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Type", REPLY_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer((self.host, port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name="tsa-server", daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self):
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/tsa"

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
