"""signing: leaders' approval and digital signatures (chữ ký số)."""

from services.signing import asn1_dump

# Before any CMS is built here: asn1crypto 1.5.1 re-encoded some structures
# exponentially (RSA-3072 PAdES took 5-20 s); asn1_dump says why.
asn1_dump.install()
