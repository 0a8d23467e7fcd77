"""A stand-in remote signing service (ký số từ xa) speaking the Cloud Signature
Consortium API v2, for the tests and the demo: what a provider's SmartCA-like
service does, in one small process.

- Its own HTTP server; every ``/csc/v2`` call but ``info`` carries a bearer
  token (``Authorization: Bearer``). A user's token acts for that user's
  credentials; the relying party's token (the platform's, ``--client-token-file``)
  acts for the users enrolled for it.
- Keys are generated inside its own SoftHSM2 token (sensitive, not extractable):
  it signs hashes and never exports a key.
- ``credentials/authorize`` checks the user's second factor, a TOTP (RFC 6238,
  the secret given at enrolment), and answers a SAD bound to the credential and
  the hashes, expiring, good for one ``signatures/signHash``. Five wrong codes
  lock the credential.
- ``POST /admin/enroll`` (the operator's token, ``--admin-token-file``): a new
  credential for ``userID``: its key, a TOTP secret and the user's bearer token.
  Its ``credentials/info`` certificate is self-signed by the key in the token
  (proof of possession): the platform's CA certifies that public key.

State other than the keys is in memory: a restart forgets credentials (a
stand-in). Run::

    python -m infra.csc_standin DIR --pin-file F --admin-token-file A \
        --client-token-file C [--host 127.0.0.1] [--port 0] [--sad-seconds 300]

It prints one JSON line ``{"url": ...}`` once it listens.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import struct
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from shared import tokens

SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
ECDSA = "1.2.840.10045.2.1"
P256 = "1.2.840.10045.3.1.7"
TOKEN_LABEL = "csc-provider"
MAX_TRIES = 5
TOTP_STEP = 30


class CscError(Exception):
    """A CSC error answer: HTTP ``status``, ``error`` and ``error_description``."""

    def __init__(self, status, error, description):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _invalid(parameter, why):
    return CscError(400, "invalid_request", f"Invalid parameter {parameter}: {why}")


def totp(secret, at=None, step=TOTP_STEP, digits=6):
    """The RFC 6238 code (HMAC-SHA1) of ``secret`` (bytes) at time ``at``."""
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return f"{code:0{digits}d}"


class Provider:
    """The service's state and rules, apart from HTTP. ``signer(label, digest)`` signs
    a SHA-256 digest with the token's key ``label``; ``new_key(label)`` makes one and
    returns its public key (both behind one lock: one token session)."""

    def __init__(self, new_key, signer, admin_token, client_token, sad_seconds=300,
                 clock=time.time):
        self._new_key, self._signer = new_key, signer
        self.sad_seconds, self.clock = sad_seconds, clock
        self._lock = threading.Lock()
        self.credentials = {}   # credentialID -> {user, secret, tries, certificate}
        self.bearers = {admin_token: {"admin": True, "users": set()},
                        client_token: {"admin": False, "users": set()}}
        self._client_token = client_token
        self.sads = {}          # SAD -> {credential, hashes, expires}

    # -- enrolment (the provider's operator) -------------------------------------------

    def enroll(self, bearer, body):
        if not self._bearer(bearer)["admin"]:
            raise CscError(403, "access_denied", "Only the operator enrols")
        user = body.get("userID")
        if not isinstance(user, str) or not user:
            raise _invalid("userID", "a user identifier is required")
        credential_id = f"cred-{uuid.uuid4().hex}"
        public_key = self._new_key(credential_id)
        certificate = _self_signed(public_key, user, lambda d: self._signer(credential_id, d))
        secret, access_token = secrets.token_bytes(20), secrets.token_urlsafe(32)
        with self._lock:
            self.credentials[credential_id] = {"user": user, "secret": secret, "tries": 0,
                                               "certificate": certificate}
            self.bearers[access_token] = {"admin": False, "users": {user}}
            if body.get("relyingParty", True):
                self.bearers[self._client_token]["users"].add(user)
        return {"credentialID": credential_id, "access_token": access_token,
                "token_type": "Bearer", "totp_secret": base64.b32encode(secret).decode()}

    # -- the CSC API ---------------------------------------------------------------------

    def info(self, bearer, body):
        return {"specs": "2.0.0.2", "name": "Dịch vụ ký số từ xa (stand-in)", "logo": "",
                "region": "VN", "lang": "vi-VN", "description": "CSC API v2 stand-in",
                "authType": ["external"], "methods": [
                    "credentials/list", "credentials/info", "credentials/authorize",
                    "signatures/signHash"]}

    def credentials_list(self, bearer, body):
        users = self._bearer(bearer)["users"]
        wanted = body.get("userID")
        if wanted is not None and wanted not in users:
            raise CscError(403, "access_denied", "Invalid parameter userID: not a user this"
                           " token acts for")
        ids = sorted(c for c, v in self.credentials.items()
                     if v["user"] in users and (wanted is None or v["user"] == wanted))
        return {"credentialIDs": ids, "onlyValid": False}

    def credentials_info(self, bearer, body):
        credential_id, credential = self._credential(bearer, body)
        certificate = credential["certificate"]
        locked = credential["tries"] >= MAX_TRIES
        return {"description": f"Khóa ký số của {credential['user']}",
                "key": {"status": "disabled" if locked else "enabled", "algo": [ECDSA_SHA256],
                        "len": 256, "curve": P256},
                "cert": {"status": "valid",
                         "certificates": [base64.b64encode(certificate.dump()).decode()],
                         "subjectDN": certificate.subject.human_friendly,
                         "serialNumber": str(certificate.serial_number)},
                "authMode": "explicit", "SCAL": "2", "multisign": 1, "lang": "vi-VN",
                "auth": {"mode": "explicit", "objects": [
                    {"type": "OTP", "id": "otp", "format": "N", "generator": "totp",
                     "label": "Mã OTP", "description": "Mã 6 chữ số trên ứng dụng xác thực"}]}}

    def authorize(self, bearer, body):
        credential_id, credential = self._credential(bearer, body)
        hashes = _hashes(body)
        if body.get("numSignatures", len(hashes)) != len(hashes):
            raise _invalid("numSignatures", "not the number of hashes")
        otp = next((a.get("value") for a in body.get("authData") or ()
                    if isinstance(a, dict) and a.get("id") == "otp"), body.get("OTP"))
        if not isinstance(otp, str) or not otp:
            raise _invalid("authData", "the OTP (id otp) is required")
        with self._lock:
            if credential["tries"] >= MAX_TRIES:
                raise CscError(403, "access_denied", f"Invalid parameter credentialID:"
                               f" locked after {MAX_TRIES} wrong OTPs")
            now = self.clock()
            if not any(hmac.compare_digest(otp, totp(credential["secret"], now + d))
                       for d in (-TOTP_STEP, 0, TOTP_STEP)):
                credential["tries"] += 1
                raise CscError(400, "invalid_otp", "Invalid parameter OTP: wrong code"
                               f" ({MAX_TRIES - credential['tries']} tries left)")
            credential["tries"] = 0
            sad = secrets.token_urlsafe(32)
            self.sads[sad] = {"credential": credential_id, "hashes": frozenset(hashes),
                              "expires": now + self.sad_seconds}
        return {"SAD": sad, "expiresIn": self.sad_seconds}

    def sign_hash(self, bearer, body):
        credential_id, _ = self._credential(bearer, body)
        hashes = _hashes(body)
        if body.get("signAlgo") != ECDSA_SHA256:
            raise _invalid("signAlgo", f"this key signs {ECDSA_SHA256} (ECDSA with SHA-256)")
        with self._lock:
            sad = self.sads.pop(body.get("SAD"), None)  # one use, whatever follows
        if sad is None:
            raise _invalid("SAD", "unknown or already used")
        if sad["credential"] != credential_id:
            raise _invalid("SAD", "issued for another credential")
        if self.clock() > sad["expires"]:
            raise _invalid("SAD", "expired")
        if not set(hashes) <= sad["hashes"]:
            raise _invalid("hashes", "not the hashes the SAD authorizes")
        return {"signatures": [base64.b64encode(self._signer(credential_id, h)).decode()
                               for h in hashes]}

    # -- helpers -----------------------------------------------------------------------

    def _bearer(self, bearer):
        found = self.bearers.get(bearer) if bearer else None
        if found is None:
            raise CscError(401, "invalid_token", "The access token is missing or not valid")
        return found

    def _credential(self, bearer, body):
        users = self._bearer(bearer)["users"]
        credential_id = body.get("credentialID")
        credential = self.credentials.get(credential_id) if isinstance(
            credential_id, str) else None
        if credential is None or credential["user"] not in users:
            raise _invalid("credentialID", "no such credential for this token")
        return credential_id, credential


def _hashes(body):
    if body.get("hashAlgorithmOID") != SHA256:
        raise _invalid("hashAlgorithmOID", f"{SHA256} (SHA-256) only")
    hashes = body.get("hashes")
    if not isinstance(hashes, list) or not hashes:
        raise _invalid("hashes", "a list of base64 hashes is required")
    try:
        decoded = [base64.b64decode(h, validate=True) for h in hashes]
    except (binascii.Error, TypeError, ValueError):
        raise _invalid("hashes", "not base64") from None
    if any(len(h) != 32 for h in decoded):
        raise _invalid("hashes", "a SHA-256 hash is 32 bytes")
    return decoded


def _self_signed(public_key, user, sign_digest):
    """A certificate of ``public_key`` signed by its own key (through the token):
    proof that the key exists and is this credential's."""
    now = datetime.now(UTC).replace(microsecond=0)
    name = asn1_x509.Name.build({"common_name": f"CSC stand-in credential of {user}"})
    tbs = asn1_x509.TbsCertificate({
        "version": "v3", "serial_number": secrets.randbits(63),
        "signature": {"algorithm": "sha256_ecdsa"}, "issuer": name,
        "validity": {"not_before": asn1_x509.Time({"utc_time": now - timedelta(minutes=5)}),
                     "not_after": asn1_x509.Time({"utc_time": now + timedelta(days=365)})},
        "subject": name, "subject_public_key_info": asn1_keys.PublicKeyInfo.load(
            public_key.public_bytes(serialization.Encoding.DER,
                                    serialization.PublicFormat.SubjectPublicKeyInfo))})
    return asn1_x509.Certificate({
        "tbs_certificate": tbs, "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature_value": sign_digest(hashlib.sha256(tbs.dump()).digest())})


# -- HTTP ---------------------------------------------------------------------------------

ROUTES = {"/csc/v2/info": "info", "/csc/v2/credentials/list": "credentials_list",
          "/csc/v2/credentials/info": "credentials_info",
          "/csc/v2/credentials/authorize": "authorize",
          "/csc/v2/signatures/signHash": "sign_hash", "/admin/enroll": "enroll"}
MAX_BODY = 1 << 20


def handler(provider):
    class Handler(BaseHTTPRequestHandler):
        server_version = "csc-standin"

        def do_POST(self):  # noqa: N802 (http.server's name)
            try:
                method = ROUTES.get(self.path)
                if method is None:
                    raise CscError(404, "invalid_request", f"No such method {self.path}")
                size = int(self.headers.get("Content-Length") or 0)
                if size > MAX_BODY:
                    raise CscError(413, "invalid_request", "Request too large")
                try:
                    body = json.loads(self.rfile.read(size) or b"{}")
                except ValueError:
                    raise CscError(400, "invalid_request", "The body is not JSON") from None
                if not isinstance(body, dict):
                    raise CscError(400, "invalid_request", "The body is not a JSON object")
                auth = self.headers.get("Authorization") or ""
                bearer = auth[7:] if auth.startswith("Bearer ") else None
                status, answer = 200, getattr(provider, method)(bearer, body)
            except CscError as exc:
                status, answer = exc.status, {"error": exc.error,
                                              "error_description": exc.description}
            data = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):  # no request lines (they would name nothing
            pass                              # secret, but the tests' output stays quiet)
    return Handler


def token_provider(directory, pin, admin_token, client_token, sad_seconds=300):
    """A :class:`Provider` whose keys are in the SoftHSM2 token under ``directory``
    (made on first start, under ``pin``)."""
    hsm = tokens.SoftHsm(directory).ensure()
    if not os.listdir(hsm.token_dir):  # first start: the token, before the library loads
        hsm.init_token(TOKEN_LABEL, pin, secrets.token_urlsafe(16))  # no SO: a stand-in
    hsm.use()
    session = tokens.open_session(tokens.softhsm_module(), TOKEN_LABEL, pin, rw=True)
    lock = threading.Lock()

    def new_key(label):
        with lock:
            return tokens.generate_key(session, label)

    def signer(label, digest):
        with lock:
            return tokens.sign_digest(session, digest, label)
    return Provider(new_key, signer, admin_token, client_token, sad_seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m infra.csc_standin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", help="its own SoftHSM2 directory (made if absent)")
    parser.add_argument("--pin-file", required=True, help="the token's user PIN")
    parser.add_argument("--admin-token-file", required=True, help="the operator's token")
    parser.add_argument("--client-token-file", required=True,
                        help="the relying party's (the platform's) token")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sad-seconds", type=int, default=300)
    args = parser.parse_args(argv)
    try:
        provider = token_provider(args.directory, tokens.read_secret(args.pin_file),
                                  tokens.read_secret(args.admin_token_file),
                                  tokens.read_secret(args.client_token_file), args.sad_seconds)
    except tokens.TokenError as exc:
        print(exc, file=sys.stderr)
        return 1
    server = ThreadingHTTPServer((args.host, args.port), handler(provider))
    host, port = server.server_address[:2]
    print(json.dumps({"url": f"http://{host}:{port}"}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
