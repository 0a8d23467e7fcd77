"""The local signer: a leader signs with their own PKCS#11 token (``lienthong
sign-digest``), on their own machine.

The server lays the signature out and hands out the digest to sign; this asks
the token's PIN (or reads ``--pin-file``, for tests), has the token sign the
digest with the key inside it, and sends back only the signature and the
certificate. The PIN and the key never leave this machine; the key never
leaves the token.
"""

import base64
import getpass
import os

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from shared import tokens

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _module(args):
    return args.module or os.environ.get("LIENTHONG_PKCS11_MODULE") or tokens.softhsm_module()


def _pin(args):
    return (tokens.read_secret(args.pin_file) if args.pin_file else
            getpass.getpass(f"Mã PIN của token “{args.token}”: "))


def request_certificate(api, args):
    """The token makes a certificate request (PKCS#10) for its key, signed inside it
    (with ``--new-key``, a new key made in the token first); only the request, which
    holds the public key, goes to the server. The request's answer."""
    try:
        with tokens.open_session(_module(args), args.token, _pin(args),
                                 rw=args.new_key) as session:
            if args.new_key:
                tokens.generate_key(session, args.key_label)
            csr = tokens.make_csr(session, args.key_label).decode()
    except tokens.TokenError as exc:
        raise DeviceError(exc.reason, str(exc), "pin") from None
    return api.post("/v1/certificates/requests", {"csr": csr})


class DeviceError(Exception):
    def __init__(self, code, message, field=None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def sign_digest(api, args):
    """Prepare, sign in the token, complete: the completed signature's answer."""
    handout = api.post(f"/v1/documents/{args.id}/signature/prepare")
    certificate = x509.load_pem_x509_certificate(handout["certificate"]["pem"].encode())
    module, pin = _module(args), _pin(args)
    try:
        with tokens.open_session(module, args.token, pin) as session:
            del pin
            if tokens.public_key(session, args.key_label).public_bytes(*_SPKI) != \
                    certificate.public_key().public_bytes(*_SPKI):
                raise DeviceError("certificate", "Chứng thư số máy chủ đưa"
                                  f" ({certificate.subject.rfc4514_string()}) không phải"
                                  " của khóa trong token này: không ký", "certificate")
            signature = tokens.sign_digest(session, base64.b64decode(handout["digest"]),
                                           args.key_label)
    except tokens.TokenError as exc:
        raise DeviceError(exc.reason, str(exc), "pin") from None
    return api.post(f"/v1/handouts/{handout['handout_id']}/complete", {
        "signature": base64.b64encode(signature).decode(),
        "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode()})
