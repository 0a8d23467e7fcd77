"""Keys in a PKCS#11 token (an HSM, a leader's USB token; SoftHSM2 here).

A key is generated inside the token, sensitive and not extractable: it never
leaves it, and whoever holds the PIN can only ask the token to sign. This
module is the adapter both sides use: the signing service (the agency's seal
key, ``services.signing.hsm``) and a leader's own machine (``lienthong
sign-digest``).

:class:`SoftHsm` keeps a SoftHSM2 configuration of its own (``SOFTHSM2_CONF``
in a private directory, never the system's ``/etc/softhsm``); the library
reads it when first loaded, so a process uses one configuration. As a
command, for the harness and operators::

    python -m shared.tokens init DIR --label L --pin-file F --so-pin-file S
    python -m shared.tokens keys DIR --label L --pin-file F
    python -m shared.tokens sign DIR --label L --pin-file F --digest BASE64
    python -m shared.tokens csr DIR --label L --pin-file F

``init`` makes the token and its key (printing the public key, PEM); ``keys``
prints the attributes of the token's private keys (never their value, which
the token refuses anyway); ``sign`` prints the token's ECDSA signature of a
SHA-256 digest (base64 DER); ``csr`` prints a PKCS#10 request for the key, signed
in the token (PEM).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from shared.green import os_thread_lock

if TYPE_CHECKING:
    import threading

    import pkcs11
    from _typeshed import StrPath
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from pyhanko.sign.pkcs11 import PKCS11Signer

MODULE_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so",
                     "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/local/lib/softhsm/libsofthsm2.so")
KEY_LABEL = "seal"


class TokenError(Exception):
    """A token refused or failed; ``message`` is for the person holding it (Vietnamese)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # pin_incorrect, pin_locked, no_token, no_key, token


def softhsm_module() -> str:
    """The SoftHSM2 PKCS#11 library's path (Debian's ``softhsm2``)."""
    for path in MODULE_CANDIDATES:
        if os.path.exists(path):
            return path
    raise TokenError("Không tìm thấy thư viện SoftHSM2 (apt-get install softhsm2)", "no_module")


class SoftHsm:
    """A SoftHSM2 of our own: ``directory``/softhsm2.conf and its token directory."""

    def __init__(self, directory: StrPath):
        self.directory = os.path.abspath(directory)
        self.conf = os.path.join(self.directory, "softhsm2.conf")
        self.token_dir = os.path.join(self.directory, "tokens")

    def __repr__(self):
        return f"SoftHsm({self.directory!r})"

    def env(self) -> dict[str, str]:
        """The variable that points SoftHSM2 here, for a process about to load it."""
        return {"SOFTHSM2_CONF": self.conf}

    def ensure(self) -> Self:
        os.makedirs(self.token_dir, mode=0o700, exist_ok=True)
        if not os.path.exists(self.conf):
            with open(self.conf, "w") as fh:
                fh.write(f"directories.tokendir = {self.token_dir}\n"
                         "objectstore.backend = file\nlog.level = ERROR\n"
                         "slots.removable = false\n")
        return self

    def init_token(self, label: str, pin: str, so_pin: str) -> None:
        """A new token ``label`` in a free slot, under the user ``pin``. (softhsm2-util
        takes the PINs as arguments: a harness step, not for a machine others share.)"""
        self.ensure()
        done = subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label,
             "--pin", pin, "--so-pin", so_pin],
            env={**os.environ, **self.env()}, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise TokenError(f"Không khởi tạo được token {label}: {done.stderr.strip()}",
                             "token")

    def use(self) -> Self:
        """Point this process's SoftHSM2 here (before the library is first loaded)."""
        self.ensure()
        os.environ.update(self.env())
        return self


# -- sessions ------------------------------------------------------------------------

_LIBS = {}


def _lib(module):
    """The module, loaded once per process (it reads ``SOFTHSM2_CONF`` then, and sees
    the tokens made before)."""
    import pkcs11

    if module not in _LIBS:
        _LIBS[module] = (pkcs11.lib(module), os.environ.get("SOFTHSM2_CONF"))
    lib, conf = _LIBS[module]
    if conf != os.environ.get("SOFTHSM2_CONF"):
        raise RuntimeError(f"{module} was loaded with SOFTHSM2_CONF={conf}: one"
                           " configuration per process")
    return lib


def open_session(module: str, token_label: str, pin: str,
                 rw: bool = False) -> pkcs11.Session:
    """A logged-in session on token ``token_label``; a :class:`TokenError` saying why not."""
    import pkcs11
    from pkcs11 import exceptions as p11

    try:
        token = _lib(module).get_token(token_label=token_label)
    except (p11.NoSuchToken, p11.MultipleTokensReturned):
        raise TokenError(f"Không tìm thấy token “{token_label}” (đã cắm token chưa?)",
                         "no_token") from None
    try:
        return token.open(rw=rw, user_pin=pin)
    except p11.PinLocked:
        raise TokenError(f"Token “{token_label}” đã bị khóa vì nhập sai mã PIN quá số lần"
                         " cho phép (CKR_PIN_LOCKED); cần quản trị viên mở khóa bằng"
                         " mã PIN SO", "pin_locked") from None
    except (p11.PinIncorrect, p11.PinLenRange, p11.PinInvalid):
        raise TokenError(f"Mã PIN của token “{token_label}” không đúng", "pin_incorrect") \
            from None
    except pkcs11.PKCS11Error as exc:
        raise TokenError(f"Token “{token_label}” từ chối đăng nhập: {type(exc).__name__}",
                         "token") from None


def generate_key(session: pkcs11.Session, label: str = KEY_LABEL) -> PublicKeyTypes:
    """An ECDSA P-256 key pair made inside the token: the private half sensitive, not
    extractable, for signing only. Returns the public key (cryptography)."""
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    parameters = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
        local=True)
    public, _ = parameters.generate_keypair(
        store=True, label=label, id=label.encode(),
        public_template={Attribute.VERIFY: True},
        private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                          Attribute.SIGN: True, Attribute.DECRYPT: False,
                          Attribute.UNWRAP: False, Attribute.DERIVE: False})
    return serialization.load_der_public_key(encode_ec_public_key(public))


def public_key(session: pkcs11.Session, label: str = KEY_LABEL) -> PublicKeyTypes:
    """The public half of the token's key ``label`` (cryptography)."""
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.util.ec import encode_ec_public_key

    found = list(session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                                      Attribute.LABEL: label}))
    if len(found) != 1:
        raise TokenError(f"Token không có (hoặc có nhiều hơn một) khóa “{label}”", "no_key")
    return serialization.load_der_public_key(encode_ec_public_key(found[0]))


def private_key_attributes(session: pkcs11.Session) -> list[dict[str, Any]]:
    """What the token says of each private key: label and its protection flags."""
    from pkcs11 import Attribute, ObjectClass

    names = {"extractable": Attribute.EXTRACTABLE, "sensitive": Attribute.SENSITIVE,
             "always_sensitive": Attribute.ALWAYS_SENSITIVE,
             "never_extractable": Attribute.NEVER_EXTRACTABLE, "local": Attribute.LOCAL}
    keys = []
    for key in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
        keys.append({"label": key[Attribute.LABEL],
                     **{name: bool(key[attribute]) for name, attribute in names.items()}})
    return keys


def _pyhanko_signer_class():
    from pyhanko.sign.pkcs11 import PKCS11Signer

    class TokenSigner(PKCS11Signer):
        """pyHanko's PKCS#11 signer, used from one thread at a time and without its
        executor threads (it runs inside a real thread already, under eventlet).

        ``certificate`` and ``chain`` (cryptography) as a file key's ``Identity`` has.
        """

        def __init__(self, session, certificate, chain=(), key_label=KEY_LABEL, lock=None):
            der = serialization.Encoding.DER
            super().__init__(
                session, key_label=key_label, other_certs_to_pull=(),
                use_raw_mechanism=True,  # SoftHSM2 has CKM_ECDSA, not CKM_ECDSA_SHA256
                signing_cert=asn1_x509.Certificate.load(certificate.public_bytes(der)),
                ca_chain=[asn1_x509.Certificate.load(c.public_bytes(der)) for c in chain])
            self.certificate, self.chain = certificate, tuple(chain)
            self._lock = lock or os_thread_lock()

        def __repr__(self):
            return f"TokenSigner({self.certificate.subject.rfc4514_string()!r})"

        async def ensure_objects_loaded(self):
            with self._lock:
                self._load_objects()

        async def async_sign_raw(self, data, digest_algorithm, dry_run=False):
            if dry_run:
                return await super().async_sign_raw(data, digest_algorithm, dry_run=True)
            with self._lock:
                self._load_objects()
                spec = self._select_pkcs11_signing_params(
                    digest_algorithm, sign_kwargs=self.sign_kwargs(data))
                if spec.pre_sign_transform is not None:
                    data = spec.pre_sign_transform(data)
                signature = self._key_handle.sign(data, **spec.sign_kwargs)
            if spec.post_sign_transform is not None:
                signature = spec.post_sign_transform(signature)
            return signature

    return TokenSigner


def token_signer(session: pkcs11.Session, certificate: x509.Certificate,
                 chain: Iterable[x509.Certificate] = (), key_label: str = KEY_LABEL,
                 lock: threading.Lock | None = None) -> PKCS11Signer:
    """A pyHanko ``Signer`` whose key stays in the token behind ``session``."""
    return _pyhanko_signer_class()(session, certificate, chain, key_label, lock)


def sign_digest(session: pkcs11.Session, digest: bytes, label: str = KEY_LABEL) -> bytes:
    """An ECDSA signature (DER, as CMS carries it) of a SHA-256 ``digest``, by the
    token's key ``label``."""
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11.util.ec import encode_ecdsa_signature

    found = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                                      Attribute.LABEL: label}))
    if len(found) != 1:
        raise TokenError(f"Token không có (hoặc có nhiều hơn một) khóa “{label}”", "no_key")
    if found[0].key_type != KeyType.EC:
        raise TokenError(f"Khóa “{label}” không phải khóa ECDSA", "no_key")
    return encode_ecdsa_signature(found[0].sign(digest, mechanism=Mechanism.ECDSA))


def make_csr(session: pkcs11.Session, label: str = KEY_LABEL,
             common_name: str = "") -> bytes:
    """A PKCS#10 certificate request (PEM) for the token's key ``label``, signed by it
    inside the token (proof of possession); the key never leaves the token. The
    subject says only ``common_name``: the CA names the holder as its records do."""
    import hashlib

    from asn1crypto import csr as asn1_csr
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_names

    spki = public_key(session, label).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    info = asn1_csr.CertificationRequestInfo({
        "version": "v1",
        "subject": asn1_names.Name.build({"common_name": common_name or label}),
        "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
        "attributes": []})
    signature = sign_digest(session, hashlib.sha256(info.dump()).digest(), label)
    request = asn1_csr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": signature})
    return pem.armor("CERTIFICATE REQUEST", request.dump())


def read_secret(path: StrPath) -> str:
    """A PIN from a file (its first line), for commands run by a harness."""
    with open(path) as fh:
        return fh.readline().rstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.tokens", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="a new SoftHSM2 token holding a new key")
    keys = commands.add_parser("keys", help="the token's private keys' attributes")
    sign = commands.add_parser("sign", help="sign a SHA-256 digest with the token's key")
    sign.add_argument("--digest", required=True, help="base64")
    csr = commands.add_parser("csr", help="a PKCS#10 request for the token's key, signed"
                              " in the token")
    for command in (init, keys, sign, csr):
        command.add_argument("directory", help="the private SoftHSM2 directory")
        command.add_argument("--label", required=True, help="the token's label")
        command.add_argument("--pin-file", required=True)
        command.add_argument("--key-label", default=KEY_LABEL)
    init.add_argument("--so-pin-file", required=True)
    args = parser.parse_args(argv)
    hsm = SoftHsm(args.directory).use()
    pin = read_secret(args.pin_file)
    try:
        if args.command == "init":
            hsm.init_token(args.label, pin, read_secret(args.so_pin_file))
            with open_session(softhsm_module(), args.label, pin, rw=True) as session:
                key = generate_key(session, args.key_label)
            print(key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
                  end="")
        elif args.command == "keys":
            with open_session(softhsm_module(), args.label, pin) as session:
                print(json.dumps(private_key_attributes(session)))
        elif args.command == "csr":
            with open_session(softhsm_module(), args.label, pin) as session:
                print(make_csr(session, args.key_label).decode(), end="")
        else:
            with open_session(softhsm_module(), args.label, pin) as session:
                signature = sign_digest(session, base64.b64decode(args.digest), args.key_label)
            print(base64.b64encode(signature).decode())
    except TokenError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
