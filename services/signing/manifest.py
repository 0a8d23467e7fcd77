"""A document's manifest and its detached CMS signature.

The manifest lists a document's metadata and, for every file, its name,
SHA-256 and size. Its bytes are canonical JSON (sorted keys, no spaces,
UTF-8, no floats), so every process produces the same bytes for the same
manifest and a signature over them can be checked anywhere: with
:func:`services.signing.verification.verify_manifest`, or with OpenSSL::

    openssl cms -verify -binary -inform DER -in manifest.p7s \\
        -content manifest.json -CAfile root.pem
"""

import asyncio
import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from pyhanko.sign import signers

from shared.envelope import canonical_json

MANIFEST_VERSION = 1


def file_entry(name, data):
    """``{"name", "sha256", "size"}`` of one file's bytes."""
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def build_manifest(metadata, files):
    """The manifest of ``metadata`` (a JSON object) and ``files`` (name -> bytes)."""
    if not isinstance(metadata, dict):
        raise TypeError("manifest metadata must be a JSON object (a dict)")
    return {
        "version": MANIFEST_VERSION,
        "metadata": metadata,
        "files": [file_entry(name, files[name]) for name in sorted(files)],
    }


def manifest_bytes(manifest):
    """The canonical bytes a signature covers."""
    return canonical_json(manifest)


def sign_manifest(data, identity):
    """A detached CMS SignedData (DER) over ``data`` by ``identity``, chain included.

    ``identity``: a :class:`~services.signing.pki.Identity` (a key in memory)
    or a pyHanko ``Signer`` whose key stays in its token.
    """
    if isinstance(identity, signers.Signer):
        signed = identity.async_sign_general_data(data, "sha256", detached=True)
        return asyncio.run(signed).dump()
    builder = (pkcs7.PKCS7SignatureBuilder()
               .set_data(data)
               .add_signer(identity.certificate, identity.private_key, hashes.SHA256()))
    for certificate in identity.chain:
        builder = builder.add_certificate(certificate)
    return builder.sign(serialization.Encoding.DER,
                        [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])


def compare_files(manifest, files):
    """Problems between the manifest's file list and the actual ``files`` (name -> bytes).

    An empty list means every listed file is present with the listed
    SHA-256 and size, and no file is unlisted.
    """
    problems = []
    listed = {entry["name"]: entry for entry in manifest.get("files", [])}
    for name in sorted(set(listed) | set(files)):
        if name not in files:
            problems.append(f"{name}: listed but missing")
        elif name not in listed:
            problems.append(f"{name}: present but not listed")
        elif file_entry(name, files[name]) != listed[name]:
            problems.append(f"{name}: SHA-256 or size differs from the manifest")
    return problems
