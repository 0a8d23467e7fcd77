"""A client of remote signing services (ký số từ xa) speaking the Cloud Signature
Consortium API v2: the leader's key stays at their provider, which signs a hash
once the leader gave their second factor (an OTP).

:class:`CscClient` is plain HTTP (``requests``), each call bounded by timeouts;
what the provider refuses becomes a :mod:`shared.errors` error naming the CSC
field it refused (``credentialID``, ``SAD``, ``OTP``, ``hashes``...); a provider
down or answering nonsense is a :class:`ServiceUnavailable`. :class:`Providers`
are the ones the operator configured (``CSC_PROVIDERS``): a JSON file naming each
provider's URL and the file holding the platform's bearer token there::

    {"smartca-test": {"url": "https://csc.example.vn", "token_file": "/run/secrets/csc",
                      "timeout_seconds": 10}}

The token is never logged, and never leaves this module but in the
``Authorization`` header.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed

SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
CONNECT_SECONDS = 5
# Each call's bound to read an answer: two calls (authorize, signHash) and the PAdES
# work must fit in the gateway's RPC_TIMEOUT_SECONDS (30).
DEFAULT_SECONDS = 10
_PARAMETER = re.compile(r"[Ii]nvalid parameter ([A-Za-z_]+)")
# CSC error codes, as this platform's errors.
_ERRORS = {"invalid_otp": Forbidden, "invalid_pin": Forbidden, "access_denied": Forbidden,
           "invalid_token": Forbidden, "invalid_request": ValidationFailed}


class CscClient:
    """One provider's CSC API v2, as the relying party holding ``token``."""

    def __init__(self, url: str, token: str, timeout: float = DEFAULT_SECONDS,
                 session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = (CONNECT_SECONDS, timeout)
        self._http = session or requests.Session()

    def __repr__(self) -> str:  # never the token
        return f"CscClient({self.url!r})"

    def credentials_list(self, user_id: str | None = None) -> list[str]:
        """The credential IDs this token may use (of ``user_id``, if given)."""
        body = {} if user_id is None else {"userID": user_id}
        ids = self._post("credentials/list", body).get("credentialIDs")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise self._nonsense("credentials/list", "credentialIDs")
        return ids

    def credentials_info(self, credential_id: str) -> dict:
        """``credentials/info`` of ``credential_id``, with its certificate."""
        return self._post("credentials/info", {"credentialID": credential_id,
                                               "certificates": "single", "certInfo": True,
                                               "authInfo": True})

    def public_key(self, credential_id: str) -> str:
        """The public key of the credential's key: from its certificate in
        ``credentials/info`` (PEM, for the platform's CA to certify)."""
        info = self.credentials_info(credential_id)
        try:
            der = base64.b64decode(info["cert"]["certificates"][0], validate=True)
            certificate = x509.load_der_x509_certificate(der)
        except (KeyError, IndexError, TypeError, ValueError, binascii.Error):
            raise self._nonsense("credentials/info", "cert.certificates") from None
        if certificate.issuer == certificate.subject and not _self_signed(certificate):
            raise ValidationFailed(f"credentialID: the self-signed certificate of"
                                   f" {credential_id} is not signed by its own key",
                                   field="credentialID")
        if ECDSA_SHA256 not in (info.get("key") or {}).get("algo", ()):
            raise ValidationFailed(f"credentialID: {credential_id} does not sign ECDSA with"
                                   " SHA-256, the only algorithm this platform asks for",
                                   field="credentialID")
        return certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def authorize(self, credential_id: str, hashes: list[bytes],
                  otp: str) -> tuple[str, int | None]:
        """The SAD for signing ``hashes`` (SHA-256 digests, bytes) once, given the
        holder's ``otp``; its lifetime in seconds."""
        answer = self._post("credentials/authorize", {
            "credentialID": credential_id, "numSignatures": len(hashes),
            "hashes": _b64(hashes), "hashAlgorithmOID": SHA256,
            "authData": [{"id": "otp", "value": otp}]})
        if not isinstance(answer.get("SAD"), str) or not answer["SAD"]:
            raise self._nonsense("credentials/authorize", "SAD")
        return answer["SAD"], answer.get("expiresIn")

    def sign_hash(self, credential_id: str, sad: str, hashes: list[bytes]) -> list[bytes]:
        """The provider's ECDSA signatures (DER) of ``hashes``, under ``sad``."""
        answer = self._post("signatures/signHash", {
            "credentialID": credential_id, "SAD": sad, "hashes": _b64(hashes),
            "hashAlgorithmOID": SHA256, "signAlgo": ECDSA_SHA256})
        try:
            signatures = [base64.b64decode(s, validate=True) for s in answer["signatures"]]
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise self._nonsense("signatures/signHash", "signatures") from None
        if len(signatures) != len(hashes):
            raise self._nonsense("signatures/signHash", "signatures")
        return signatures

    def _post(self, method, body):
        try:
            response = self._http.post(f"{self.url}/csc/v2/{method}", json=body,
                                       timeout=self.timeout,
                                       headers={"Authorization": f"Bearer {self._token}"})
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"csc: the signing provider at {self.url} did not"
                                     f" answer {method} ({type(exc).__name__})",
                                     field="csc") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise self._nonsense(method, f"HTTP {response.status_code} body")
        if response.status_code == 200:
            return answer
        raise _refusal(method, response.status_code, answer)

    def _nonsense(self, method, field):
        return ServiceUnavailable(f"{field}: the signing provider at {self.url} answered"
                                  f" {method} without a valid {field}", field=field)


def _refusal(method, status, answer):
    """The provider's CSC error as this platform's, naming the CSC field refused."""
    error = str(answer.get("error") or "error")
    description = str(answer.get("error_description") or error)[:300]
    named = _PARAMETER.search(description)
    field = named.group(1) if named else {"invalid_otp": "OTP", "invalid_pin": "PIN",
                                          "invalid_token": "Authorization"}.get(error)
    cls = _ERRORS.get(error) or (ServiceUnavailable if status >= 500 else Forbidden
                                 if status in (401, 403) else ValidationFailed)
    if error == "invalid_request" and field == "credentialID" and "no such" in description:
        cls = NotFound
    message = f"{field or 'csc'}: the signing provider refused {method} ({error}): {description}"
    if error == "invalid_otp":  # the leader reads this one
        message = f"OTP: Mã OTP không đúng (the signing provider refused it: {description})"
    return cls(message, field=field)


def _self_signed(certificate):
    """Whether a certificate naming itself as issuer was signed by its own key (a
    provider's proof that the credential's key exists)."""
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(certificate.signature, certificate.tbs_certificate_bytes,
                   ec.ECDSA(certificate.signature_hash_algorithm))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _b64(hashes):
    return [base64.b64encode(h).decode() for h in hashes]


class Providers:
    """The remote signing services the operator configured, by name."""

    def __init__(self, clients: dict[str, CscClient]):
        self._clients = dict(clients)

    def __repr__(self) -> str:
        return f"Providers({sorted(self._clients)!r})"

    @classmethod
    def from_file(cls, path: str | None) -> Providers:
        """From the ``CSC_PROVIDERS`` file (see the module); none if ``path`` is empty."""
        if not path:
            return cls({})
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
        clients = {}
        for name, entry in config.items():
            with open(entry["token_file"], encoding="utf-8") as fh:
                token = fh.readline().strip()
            if not token:
                raise ValueError(f"CSC_PROVIDERS: {name}'s token_file is empty")
            clients[name] = CscClient(entry["url"], token,
                                      entry.get("timeout_seconds", DEFAULT_SECONDS))
        return cls(clients)

    def names(self) -> list[str]:
        return sorted(self._clients)

    def client(self, name: str) -> CscClient:
        if name not in self._clients:
            known = ", ".join(self.names()) or "none configured (CSC_PROVIDERS)"
            raise ValidationFailed(f"provider: no remote signing provider {name!r} (known:"
                                   f" {known})", field="provider")
        return self._clients[name]
